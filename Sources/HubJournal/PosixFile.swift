import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over the POSIX calls the journal (and the hub's start-up, for its secrets) makes. Each returns the
/// failing call's errno as a `PosixFailure`; the caller turns it into the error that fits where it happened.
package struct PosixFailure: Error {
    package var call: String
    package var code: Int32

    package var description: String { "\(call): \(describeErrno(code))" }
}

package enum Posix {
    /// Opens `path`, retrying on EINTR.
    package static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0) -> Result<Int32, PosixFailure> {
        while true {
            let fd = open(path, flags, mode)
            if fd >= 0 { return .success(fd) }
            if errno != EINTR { return .failure(PosixFailure(call: "open", code: errno)) }
        }
    }

    /// Reads up to `bytes.count` bytes at `offset`, retrying on EINTR; 0 at the end of the file.
    package static func read(_ fd: Int32, into bytes: UnsafeMutableRawBufferPointer, at offset: Int) -> Result<
        Int, PosixFailure
    > {
        while true {
            let result = pread(fd, bytes.baseAddress, min(bytes.count, 1 << 30), off_t(offset))
            if result >= 0 { return .success(result) }
            if errno != EINTR { return .failure(PosixFailure(call: "read at byte \(offset)", code: errno)) }
        }
    }

    /// Copies `source` from byte 0 to its end into `destination` (from byte 0), through one buffer of `chunkBytes`:
    /// memory does not grow with the file. Returns the bytes copied.
    package static func copyFile(from source: Int32, to destination: Int32, chunkBytes: Int = 1 << 20) -> Result<
        Int, PosixFailure
    > {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while true {
            let count: Int
            switch read(source, into: buffer, at: offset) {
            case .success(let read): count = read
            case .failure(let failure): return .failure(failure)
            }
            if count == 0 { return .success(offset) }
            let written = writeAll(destination, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
            if case .failure(let failure) = written { return .failure(failure) }
            offset += count
        }
    }

    /// Gives the file at `existing` the second name `new`; fails with EEXIST if `new` exists (never replaces it).
    package static func linkFile(_ existing: String, to new: String) -> Result<Void, PosixFailure> {
        guard link(existing, new) == 0 else { return .failure(PosixFailure(call: "link to \(new)", code: errno)) }
        return .success(())
    }

    package static func removeFile(_ path: String) -> Result<Void, PosixFailure> {
        guard unlink(path) == 0 else { return .failure(PosixFailure(call: "unlink \(path)", code: errno)) }
        return .success(())
    }

    /// Sets the permission bits exactly, whatever the umask applied when the file was created.
    package static func setMode(_ fd: Int32, _ mode: mode_t) -> Result<Void, PosixFailure> {
        guard fchmod(fd, mode) == 0 else { return .failure(PosixFailure(call: "fchmod", code: errno)) }
        return .success(())
    }

    /// Writes all of `bytes` at `offset`, looping over partial writes and EINTR. `maxChunk` limits each call
    /// (tests use it to force partial writes).
    package static func writeAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, maxChunk: Int = 1 << 30
    ) -> Result<Void, PosixFailure> {
        var written = 0
        while written < bytes.count {
            let chunk = min(bytes.count - written, maxChunk)
            let result = pwrite(fd, bytes.baseAddress! + written, chunk, off_t(offset + written))
            if result > 0 {
                written += result
            } else if result == 0 {
                return .failure(PosixFailure(call: "write at byte \(offset + written) (wrote nothing)", code: EIO))
            } else if errno != EINTR {
                return .failure(PosixFailure(call: "write at byte \(offset + written)", code: errno))
            }
        }
        return .success(())
    }

    /// Makes the file's data (and the metadata needed to read it, such as its size) durable.
    package static func syncFile(_ fd: Int32) -> Result<Void, PosixFailure> {
        while true {
            #if canImport(Darwin)
                // fsync on Darwin does not flush the drive's cache; F_FULLFSYNC does, where supported.
                if fcntl(fd, F_FULLFSYNC) == 0 || fsync(fd) == 0 { return .success(()) }
            #else
                if fdatasync(fd) == 0 { return .success(()) }
            #endif
            if errno != EINTR { return .failure(PosixFailure(call: "fsync", code: errno)) }
        }
    }

    package static func truncateFile(_ fd: Int32, to length: Int) -> Result<Void, PosixFailure> {
        while true {
            if ftruncate(fd, off_t(length)) == 0 { return .success(()) }
            if errno != EINTR { return .failure(PosixFailure(call: "ftruncate to \(length) bytes", code: errno)) }
        }
    }

    /// Makes the directory's entries (a created or renamed file) durable.
    package static func syncDirectory(_ path: String) -> Result<Void, PosixFailure> {
        let fd: Int32
        switch openFile(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
        case .success(let opened): fd = opened
        case .failure(let failure): return .failure(failure)
        }
        defer { _ = closeFile(fd) }
        guard fsync(fd) == 0 else { return .failure(PosixFailure(call: "fsync of directory \(path)", code: errno)) }
        return .success(())
    }

    /// The mode (file type and permission bits) of what `path` names, following symbolic links. The hub's start-up
    /// asks here rather than calling `stat` itself: in a module whose files also import Foundation, the compiler may
    /// take `struct stat` to be declared by whichever C module it happened to load first (CoreFoundation, CDispatch,
    /// depending on the module's set of files), and MemberImportVisibility then refuses `st_mode` in a file that does
    /// not import that module. This module imports no Foundation.
    package static func fileMode(_ path: String) -> Result<mode_t, PosixFailure> {
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(PosixFailure(call: "stat \(path)", code: errno)) }
        return .success(status.st_mode)
    }

    /// Creates `path` and its missing parents, syncing each parent whose entries changed. `path` itself gets `mode`
    /// exactly (set with `chmod` after `mkdir`, whatever the umask); the parents it creates get 0755, less the umask.
    /// A directory that already exists is left as it is.
    package static func makeDirectories(_ path: String, mode: mode_t) -> Result<Void, PosixFailure> {
        var status = stat()
        if stat(path, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                return .failure(PosixFailure(call: "\(path) exists and is not a directory", code: ENOTDIR))
            }
            return .success(())
        }
        let parent = parentDirectory(of: path)
        if parent != path, case .failure(let failure) = makeDirectories(parent, mode: 0o755) {
            return .failure(failure)
        }
        if mkdir(path, mode) == 0 {
            if chmod(path, mode) != 0 { return .failure(PosixFailure(call: "chmod \(path)", code: errno)) }
        } else if errno != EEXIST {
            return .failure(PosixFailure(call: "mkdir \(path)", code: errno))
        }
        return syncDirectory(parent)
    }

    /// Creates `path` holding `contents`, so that it never exists at its path incomplete or with another mode:
    /// the bytes go into a uniquely named temporary file in the same directory (created with `mode`, set exactly
    /// whatever the umask, and fsynced), which is then hard-linked to `path` and the directory synced. `link`, unlike
    /// `rename`, never replaces: if `path` exists the result is a failure with `EEXIST` and `path` is untouched.
    /// Returns the new file, open for reading and writing.
    package static func createFileAtomically(
        _ path: String, contents: UnsafeRawBufferPointer, mode: mode_t
    ) -> Result<Int32, PosixFailure> {
        let temporary = path + ".creating-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let fd: Int32
        switch openFile(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode: mode) {
        case .success(let opened): fd = opened
        case .failure(let failure): return .failure(failure)
        }
        let linked = setMode(fd, mode)
            .flatMap { writeAll(fd, contents, at: 0) }
            .flatMap { syncFile(fd) }
            .flatMap { linkFile(temporary, to: path) }
        // The temporary name goes whatever happened: once linked, `path` holds the file.
        let unlinked = removeFile(temporary)
        if case .failure(let failure) = linked.flatMap({ unlinked }).flatMap({
            syncDirectory(parentDirectory(of: path))
        }) {
            _ = closeFile(fd)
            return .failure(failure)
        }
        return .success(fd)
    }

    package static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Closes `fd`. Not retried on EINTR: on Linux the descriptor is released even then.
    package static func closeFile(_ fd: Int32) -> Result<Void, PosixFailure> {
        guard close(fd) == 0 else { return .failure(PosixFailure(call: "close", code: errno)) }
        return .success(())
    }
}

/// Reads a file front to back through one buffer of `max(chunkBytes, largestRead)` bytes: recovery's memory does
/// not grow with the journal, and every byte is read from the file once.
struct SequentialReader {
    private let fd: Int32
    private let chunkBytes: Int
    /// The bytes read and not consumed yet; its reader index is at file offset `offset`.
    private(set) var buffer: ByteBuffer
    /// The file offset of the first byte not consumed yet.
    private(set) var offset: Int
    private(set) var reachedEnd = false
    /// Bytes read from the file so far.
    private(set) var bytesRead = 0

    /// - Parameters:
    ///   - chunkBytes: how much to read at a time (at least what a `fill` needs).
    ///   - largestRead: the most bytes one `fill` will ask for, so that the buffer never has to grow.
    init(fd: Int32, from offset: Int = 0, chunkBytes: Int, largestRead: Int) {
        self.fd = fd
        self.offset = offset
        self.chunkBytes = max(1, chunkBytes)
        buffer = ByteBufferAllocator().buffer(capacity: max(self.chunkBytes, largestRead))
    }

    /// Reads until `count` (at most `largestRead`) bytes are buffered or the file ends, and returns how many are
    /// buffered: fewer than `count` only at the end of the file.
    mutating func fill(_ count: Int) -> Result<Int, PosixFailure> {
        while buffer.readableBytes < count, !reachedEnd {
            // Less than `count` is left, so less than one record: move it to the front, which makes room for the
            // rest without growing the buffer, and copies at most one record per chunk read.
            buffer.discardReadBytes()
            let needed = count - buffer.readableBytes
            let fileOffset = offset + buffer.readableBytes
            var failure: PosixFailure?
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: needed) { bytes in
                let wanted = min(bytes.count, max(chunkBytes, needed))
                switch Posix.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<wanted]), at: fileOffset)
                {
                case .success(let got): return got
                case .failure(let error):
                    failure = error
                    return 0
                }
            }
            if let failure { return .failure(failure) }
            if got == 0 { reachedEnd = true }
            bytesRead += got
        }
        return .success(min(buffer.readableBytes, count))
    }

    /// Moves past `count` buffered bytes.
    mutating func consume(_ count: Int) {
        buffer.moveReaderIndex(forwardBy: count)
        offset += count
    }
}
