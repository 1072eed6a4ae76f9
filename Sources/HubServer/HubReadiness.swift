import Synchronization

/// Whether the hub accepts submissions now, for `/readyz`: not while it recovers its journal, while its store
/// fails, or once it is shutting down.
public enum HubReadiness: Hashable, Sendable, CustomStringConvertible {
    case recovering
    case ready
    /// The last commit failed; submissions are rejected as storeUnavailable until one succeeds.
    case storeFailing(String)
    case stopping
    case stopped

    public var isReady: Bool { self == .ready }

    public var description: String {
        switch self {
        case .recovering: return "recovering the journal"
        case .ready: return "ready"
        case .storeFailing(let error): return "the journal fails: \(error)"
        case .stopping: return "shutting down"
        case .stopped: return "stopped"
        }
    }
}

/// The readiness in force, set by the server and its engine, read by the admin port from any thread.
final class CurrentReadiness: Sendable {
    private let value = Mutex<HubReadiness>(.stopped)

    var now: HubReadiness { value.withLock { $0 } }

    func set(_ readiness: HubReadiness) {
        value.withLock { $0 = readiness }
    }

    /// A commit failed: not ready until one succeeds (unless the hub is already stopping).
    func storeFailed(_ error: String) {
        value.withLock { if $0.acceptsStoreNews { $0 = .storeFailing(error) } }
    }

    func storeRecovered() {
        value.withLock { if $0.acceptsStoreNews { $0 = .ready } }
    }
}

extension HubReadiness {
    fileprivate var acceptsStoreNews: Bool {
        switch self {
        case .ready, .storeFailing: return true
        case .recovering, .stopping, .stopped: return false
        }
    }
}
