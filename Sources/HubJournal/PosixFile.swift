import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Thin wrappers over the POSIX calls the journal makes. Each returns the failing call's errno as a
/// `PosixFailure`; the journal turns it into the `JournalError` that fits where it happened.
struct PosixFailure: Error {
    var call: String
    var code: Int32

    var description: String { "\(call): \(describeErrno(code))" }
}

enum Posix {
    /// Opens `path`, retrying on EINTR.
    static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0) -> Result<Int32, PosixFailure> {
        while true {
            let fd = open(path, flags, mode)
            if fd >= 0 { return .success(fd) }
            if errno != EINTR { return .failure(PosixFailure(call: "open", code: errno)) }
        }
    }

    /// Reads from offset 0 to the end of the file into one buffer: one `read` per gigabyte, not per record.
    static func readAll(_ fd: Int32) -> Result<ByteBuffer, PosixFailure> {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return .failure(PosixFailure(call: "fstat", code: errno)) }
        let size = Int(status.st_size)
        var buffer = ByteBufferAllocator().buffer(capacity: size + 1)
        var failure: PosixFailure?
        while failure == nil {
            // The whole file in one read, then a 1-byte read that sees the end (the capacity has room for it, so the
            // buffer is never copied). Should the file have grown since the fstat, the rest is read in 64 KiB reads.
            let offset = buffer.writerIndex
            let wanted = offset < size ? size - offset : (offset == size ? 1 : 1 << 16)
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { bytes in
                while true {
                    let chunk = min(bytes.count, 1 << 30)
                    let result = pread(fd, bytes.baseAddress, chunk, off_t(offset))
                    if result >= 0 { return result }
                    if errno != EINTR {
                        failure = PosixFailure(call: "read at byte \(offset)", code: errno)
                        return 0
                    }
                }
            }
            if count == 0 { break }
        }
        if let failure { return .failure(failure) }
        return .success(buffer)
    }

    /// Writes all of `bytes` at `offset`, looping over partial writes and EINTR. `maxChunk` limits each call
    /// (tests use it to force partial writes).
    static func writeAll(
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
    static func syncFile(_ fd: Int32) -> Result<Void, PosixFailure> {
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

    static func truncateFile(_ fd: Int32, to length: Int) -> Result<Void, PosixFailure> {
        while true {
            if ftruncate(fd, off_t(length)) == 0 { return .success(()) }
            if errno != EINTR { return .failure(PosixFailure(call: "ftruncate to \(length) bytes", code: errno)) }
        }
    }

    /// Makes the directory's entries (a created or renamed file) durable.
    static func syncDirectory(_ path: String) -> Result<Void, PosixFailure> {
        let fd: Int32
        switch openFile(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) {
        case .success(let opened): fd = opened
        case .failure(let failure): return .failure(failure)
        }
        defer { _ = closeFile(fd) }
        guard fsync(fd) == 0 else { return .failure(PosixFailure(call: "fsync of directory \(path)", code: errno)) }
        return .success(())
    }

    /// Creates `path` and its missing parents (mode 0700 would hide the journal from operators; 0755), syncing
    /// each parent whose entries changed.
    static func makeDirectories(_ path: String) -> Result<Void, PosixFailure> {
        var status = stat()
        if stat(path, &status) == 0 {
            guard (status.st_mode & S_IFMT) == S_IFDIR else {
                return .failure(PosixFailure(call: "\(path) exists and is not a directory", code: ENOTDIR))
            }
            return .success(())
        }
        let parent = parentDirectory(of: path)
        if parent != path, case .failure(let failure) = makeDirectories(parent) { return .failure(failure) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            return .failure(PosixFailure(call: "mkdir \(path)", code: errno))
        }
        return syncDirectory(parent)
    }

    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Closes `fd`. Not retried on EINTR: on Linux the descriptor is released even then.
    static func closeFile(_ fd: Int32) -> Result<Void, PosixFailure> {
        guard close(fd) == 0 else { return .failure(PosixFailure(call: "close", code: errno)) }
        return .success(())
    }
}
