import HubJournal
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A start-up check that failed, in one sentence an operator can act on.
public struct StartupError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(_ message: String) {
        self.message = message
    }
}

/// What the hub checks before it writes anything: the address it will listen on, the data directory, and the
/// files that hold secrets. Secrets are created readable by their owner only, from the first byte.
public enum StartupChecks {
    /// A TCP port, or 0 for any free one.
    public static func checkPortRange(_ port: Int, option: String) throws(StartupError) {
        guard (0...65535).contains(port) else {
            throw StartupError("\(option) \(port) is out of range: use 1 to 65535, or 0 for any free port")
        }
    }

    /// Binds `host:port` and lets it go again, so that a port in use is reported before anything is written.
    /// Port 0 (any free port) always passes.
    public static func checkListenAddress(
        host: String, port: Int, options: (host: String, port: String) = ("--host", "--port")
    ) throws(StartupError) {
        try checkPortRange(port, option: options.port)
        guard port != 0 else { return }
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw StartupError("\(options.host) \(host) is not an address this machine can listen on (\(error))")
        }
        #if canImport(Glibc)
            let stream = Int32(SOCK_STREAM.rawValue)
        #else
            let stream = SOCK_STREAM
        #endif
        let fd = socket(Int32(address.protocol.rawValue), stream, 0)
        guard fd >= 0 else { throw StartupError("cannot create a socket: \(errnoText(errno))") }
        defer { close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let result = address.withSockAddr { pointer, size in bind(fd, pointer, socklen_t(size)) }
        guard result == 0 else {
            let code = errno
            switch code {
            case EADDRINUSE:
                throw StartupError(
                    "port \(port) on \(host) is in use (is another results-hub running?); stop it or choose another \(options.port)"
                )
            case EACCES:
                throw StartupError("port \(port) needs privileges to listen on; choose a port from 1024 up")
            case EADDRNOTAVAIL:
                throw StartupError("\(host) is not an address of this machine; choose another \(options.host)")
            default:
                throw StartupError("cannot listen on \(host):\(port): \(errnoText(code))")
            }
        }
    }

    /// Makes sure `path` is a directory this user can write, creating it (mode 0700 whatever the umask, since it
    /// holds the desks' tokens) if it is missing. Returns a warning when an existing one is open to other users.
    public static func prepareDataDirectory(_ path: String) throws(StartupError) -> String? {
        switch Posix.fileMode(path) {
        case .success(let mode):
            guard (mode & S_IFMT) == S_IFDIR else {
                throw StartupError("the data directory \(path) exists but is not a directory; choose another --data")
            }
            guard access(path, W_OK | X_OK) == 0 else {
                throw StartupError(
                    "cannot write in the data directory \(path) (\(errnoText(errno))); fix its permissions or choose another --data"
                )
            }
            guard mode & 0o077 == 0 else {
                return
                    "the data directory \(path) is open to other users (mode \(octal(mode & 0o777))); it holds secrets: chmod 700 \(path)"
            }
            return nil
        case .failure(let failure) where failure.code != ENOENT:
            throw StartupError(
                "cannot use the data directory \(path): \(errnoText(failure.code)); choose another --data")
        case .failure:
            break  // missing: made below
        }
        if case .failure(let failure) = Posix.makeDirectories(path, mode: 0o700) {
            throw StartupError(
                "cannot create the data directory \(path): \(failure.description); choose another --data or create it first"
            )
        }
        return nil
    }

    /// The file that marks a data directory as a rehearsal's.
    public static let rehearsalMarkerName = "REHEARSAL"

    /// A rehearsal must never write into the live night's journal, nor the live hub serve a rehearsal's test data:
    /// a rehearsal's data directory carries a marker file, written here on its first start. A rehearsal refuses a
    /// directory that holds a journal without the marker; a live hub refuses one with it.
    public static func checkRehearsalMarking(_ path: String, rehearsal: Bool) throws(StartupError) {
        let marker = "\(path)/\(rehearsalMarkerName)"
        let marked = access(marker, F_OK) == 0
        let hasJournal = access("\(path)/journal.rhj", F_OK) == 0
        switch (rehearsal, marked) {
        case (true, true), (false, false):
            return
        case (false, true):
            throw StartupError(
                "the data directory \(path) holds a rehearsal's test data (\(marker)); a live hub cannot use it: choose another --data, or add --rehearsal"
            )
        case (true, false):
            guard !hasJournal else {
                throw StartupError(
                    "the data directory \(path) holds a live journal; a rehearsal cannot use it: give it its own --data (by default --rehearsal uses ./hub-data-rehearsal)"
                )
            }
            let text = Array(
                "This directory holds a ResultsHub rehearsal's journal: test data, not results. A live hub refuses it.\n"
                    .utf8)
            let created = text.withUnsafeBytes { Posix.createFileAtomically(marker, contents: $0, mode: 0o600) }
            switch created {
            case .success(let fd): _ = Posix.closeFile(fd)
            case .failure(let failure): throw StartupError("cannot create \(marker): \(failure.description)")
            }
        }
    }

    /// Writes a new file that only its owner can read (0600 whatever the umask), atomically: no other user can read
    /// it at any moment and nobody sees it half written. Fails if `path` exists.
    public static func writeSecretFile(_ bytes: [UInt8], to path: String) throws(StartupError) {
        let created = bytes.withUnsafeBytes { Posix.createFileAtomically(path, contents: $0, mode: 0o600) }
        switch created {
        case .success(let fd): _ = Posix.closeFile(fd)
        case .failure(let failure): throw StartupError("cannot create \(path): \(failure.description)")
        }
    }

    /// Replaces (or creates) a file that only its owner can read (0600 whatever the umask), atomically: written
    /// under a temporary name in the same directory, synced, then renamed over `path`; a reader sees the old file
    /// or the new one, never a mix.
    public static func replaceSecretFile(_ bytes: [UInt8], at path: String) throws(StartupError) {
        let temporary = path + ".replacing-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
        let fd: Int32
        switch Posix.openFile(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let failure): throw StartupError("cannot write \(path): \(failure.description)")
        }
        let written = bytes.withUnsafeBytes { contents in
            Posix.setMode(fd, 0o600).flatMap { Posix.writeAll(fd, contents, at: 0) }.flatMap { Posix.syncFile(fd) }
        }
        _ = Posix.closeFile(fd)
        if case .failure(let failure) = written {
            _ = Posix.removeFile(temporary)
            throw StartupError("cannot write \(path): \(failure.description)")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            _ = Posix.removeFile(temporary)
            throw StartupError("cannot replace \(path): \(errnoText(code))")
        }
        _ = Posix.syncDirectory(Posix.parentDirectory(of: path))
    }

    /// A warning when the secrets file at `path` can be read by users other than its owner.
    public static func exposureWarning(forSecretFile path: String) -> String? {
        guard case .success(let mode) = Posix.fileMode(path), mode & 0o077 != 0 else { return nil }
        return "\(path) can be read by other users (mode \(octal(mode & 0o777))); it holds tokens: chmod 600 \(path)"
    }

    private static func octal(_ mode: mode_t) -> String {
        "0" + String(mode, radix: 8)
    }

    private static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
