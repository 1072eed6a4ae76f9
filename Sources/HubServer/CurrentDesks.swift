import Synchronization

/// The desk directory in force, swapped at run time (SIGHUP) while connections authenticate against it. Owned by
/// `HubServer`; the engine and every connection handler read it.
final class CurrentDesks: Sendable {
    private let directory: Mutex<DeskDirectory>

    init(_ directory: DeskDirectory) {
        self.directory = Mutex(directory)
    }

    var directoryInForce: DeskDirectory {
        directory.withLock { $0 }
    }

    /// Puts `new` in force and returns the directory it replaces.
    func replace(with new: DeskDirectory) -> DeskDirectory {
        directory.withLock { current in
            let old = current
            current = new
            return old
        }
    }
}
