import ElectionModel
import Foundation
import HubClient
import HubJournal
import HubServer
import HubWire
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// Bad peers and bad disks: each gets its precise answer, and the hub keeps serving everyone else.
@Suite("Hostile input and faults", .serialized)
struct HostileInputTests {
    func goodbye(port: Int, after bytes: [UInt8]) async throws -> Goodbye {
        try await RawConnection.goodbye(port: port, after: bytes)
    }

    @Test func wrongStateUnknownTypesAndBombsGetTheirCodes() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        @Sendable func frame(_ message: HubMessage) -> [UInt8] { Array(FrameCodec().encode(message).readableBytesView) }
        let hello = frame(.hello(.desk()))
        let submit = frame(.submit(Submit(requestID: 1, declaration: Declarations.real("swindon"))))
        try await withTimeout {
            // Submit before the handshake.
            #expect(try await goodbye(port: hub.port, after: submit).code == .unexpectedMessage)
            // An unknown message type after the handshake.
            #expect(
                try await goodbye(port: hub.port, after: hello + [0, 0, 0, 2, 0x7E, 0]).code == .unknownMessageType)
            // Subscribe as a desk.
            let subscribe = frame(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
            #expect(try await goodbye(port: hub.port, after: hello + subscribe).code == .unexpectedMessage)
            // A frame over 1 MiB after the handshake, and a 4 GB length prefix.
            #expect(try await goodbye(port: hub.port, after: hello + [0x00, 0x10, 0x00, 0x01]).code == .frameTooLarge)
            #expect(try await goodbye(port: hub.port, after: hello + [0xFF, 0xFF, 0xFF, 0xFF]).code == .frameTooLarge)
            // A compression bomb: 5 MiB of zeros claiming to be 100 bytes.
            var bomb = ByteBuffer()
            let dictionary = ElectionDefinition(TestHub.election).presetDictionary
            PayloadCompressor(format: .deflate, dictionary: dictionary).compress(
                ByteBuffer(repeating: 0, count: 5 << 20), into: &bomb)
            var reader = WireReader(bomb)
            _ = try reader.varint("length")
            var payload = ByteBuffer()
            payload.writeVarint(100)
            var rest = reader.buffer
            payload.writeBuffer(&rest)
            var bombFrame = ByteBuffer()
            Frame(type: MessageType.submit.rawValue, flags: Frame.compressedFlag, payload: payload).write(
                into: &bombFrame)
            #expect(
                try await goodbye(port: hub.port, after: hello + Array(bombFrame.readableBytesView)).code
                    == .decompressionFailed)
            // A wrong version range: three VERSION_RANGE answers, then unsupportedVersion at the fourth.
            var old = Hello.desk()
            old.minVersion = 7
            old.maxVersion = 9
            let oldHello = frame(.hello(old))
            #expect(
                try await goodbye(port: hub.port, after: oldHello + oldHello + oldHello + oldHello).code
                    == .unsupportedVersion)
            // The hub still serves a well-behaved desk.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                    throw TestFailure("no ack")
                }
            }
        }
        try await hub.stop()
    }

    @Test func aTruncatedFrameThenSilenceTimesOut() async throws {
        let hub = try await TestHub.start { $0.handshakeTimeout = .milliseconds(300) }
        defer { hub.removeFiles() }
        try await withTimeout {
            // Slowloris: half a HELLO, then nothing.
            let hello = Array(FrameCodec().encode(.hello(.desk())).readableBytesView)
            let answer = try await goodbye(port: hub.port, after: Array(hello.prefix(9)))
            #expect(answer.code == .handshakeTimeout)
        }
        try await hub.stop()
    }

    @Test func connectionsBeyondTheLimitAreRefusedAndSilentOnesTimeOut() async throws {
        let hub = try await TestHub.start {
            $0.maxConnections = 1000
            // Four times the default, so that all thousand are still open when the next one comes even on a busy
            // machine, where opening them took up to 10 s, and over 20 s in a whole `swift test` on two cores since
            // the journal tests became asynchronous and run alongside (their work is on journal threads now).
            $0.handshakeTimeout = .seconds(40)
        }
        defer { hub.removeFiles() }
        try await withTimeout(120) {
            // A thousand connections that never speak.
            var silent: [any Channel] = []
            for _ in 0..<1000 {
                silent.append(
                    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(host: "127.0.0.1", port: hub.port).get())
            }
            // One more is refused with a reason.
            #expect(try await goodbye(port: hub.port, after: []).code == .tooManyConnections)
            // The silent ones are closed by the handshake timeout, and the hub serves again.
            for channel in silent { try await channel.closeFuture.get() }
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                guard case .ack = try await desk.submit(Declarations.real("arun"), requestID: 1) else {
                    throw TestFailure("no ack")
                }
            }
        }
        try await hub.stop()
    }

    /// A store that fails while `failing` is set, as a full disk would.
    final class FlakyStore: EventStore {
        let inner: any EventStore
        let failing: Atomic<Bool>
        init(inner: any EventStore, failing: Bool) {
            self.inner = inner
            self.failing = Atomic(failing)
        }
        func recover<State: Sendable>(
            into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
        ) async throws(JournalError) -> (State, JournalRecovery) { try await inner.recover(into: state, apply) }
        func append(_ entries: [JournalEntry]) async throws(JournalError) {
            if failing.load(ordering: .relaxed) { throw JournalError.writeFailed("No space left on device (injected)") }
            try await inner.append(entries)
        }
        func close() async throws(JournalError) { try await inner.close() }
    }

    @Test func aFailingDiskRejectsAsStoreUnavailableAndRecovers() async throws {
        let store = Mutex<FlakyStore?>(nil)
        let hub = try await TestHub.start(store: { configuration, logger in
            let flaky = FlakyStore(
                inner: try await FileJournal.open(for: configuration, logger: logger), failing: false)
            store.withLock { $0 = flaky }
            return flaky
        })
        defer { hub.removeFiles() }
        let port = hub.port
        let flaky = try #require(store.withLock { $0 })
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .subscriber) { subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot()
                var replica = Replica()
                try replica.apply(snapshot)
                try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                    guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                        throw TestFailure("no ack")
                    }
                    flaky.failing.store(true, ordering: .relaxed)
                    guard case .reject(let reject) = try await desk.submit(Declarations.real("arun"), requestID: 2)
                    else {
                        throw TestFailure("acked while the disk fails")
                    }
                    #expect(reject.code == .storeUnavailable)
                    // Two different revision-1 declarations of one contest while the disk fails: neither was stored,
                    // so neither may be told it conflicts with the other.
                    let answers = try await desk.submitPipelined([
                        Declarations.real("bromsgrove"), Declarations.allTo("bromsgrove", party: "LAB"),
                    ])
                    for answer in answers {
                        guard case .reject(let reject) = answer else { throw TestFailure("acked while the disk fails") }
                        #expect(reject.code == .storeUnavailable)
                    }
                    // Still serving: queries answer, and the failed event never happened.
                    try await desk.send(.query(Query(requestID: 3, kind: .scoreboard)))
                    guard case .scoreboard(let board) = try await desk.next() else {
                        throw TestFailure("no scoreboard")
                    }
                    #expect(board.scoreboard.sequence == 1)
                    flaky.failing.store(false, ordering: .relaxed)
                    guard case .ack(let retry) = try await desk.submit(Declarations.real("arun"), requestID: 4) else {
                        throw TestFailure("no ack after the disk recovered")
                    }
                    #expect(retry.sequence == 2, "the failed attempt used no sequence number")
                    #expect(retry.duplicate == false)
                }
                while replica.sequence < 2 {
                    guard case .deltaBatch(let batch) = try await subscriber.next() else {
                        throw TestFailure("no delta")
                    }
                    try replica.apply(batch)
                }
                #expect(replica.records.count == 2)
            }
        }
        try await hub.stop()
    }
}
