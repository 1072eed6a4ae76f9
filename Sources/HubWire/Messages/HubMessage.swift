import NIOCore

// One file per message in this folder: its struct and its `MessagePayload` coding (spec 6). This file holds only
// the type byte, the `HubMessage` enum and the dispatch between them. To add a message: its file, a `MessageType`
// case, a `HubMessage` case and the three switches below, the spec's section 6, and the vectors.

/// The type byte of a frame (spec 6).
public enum MessageType: UInt8, Hashable, Sendable, CaseIterable {
    case hello = 0x01
    case welcome = 0x02
    case versionRange = 0x03
    case submit = 0x10
    case withdraw = 0x11
    case ack = 0x12
    case reject = 0x13
    case subscribe = 0x20
    case snapshot = 0x21
    case deltaBatch = 0x22
    case heartbeat = 0x30
    case query = 0x31
    case scoreboard = 0x32
    case contest = 0x33
    case election = 0x34
    case goodbye = 0x3F

    /// The spec's upper-case name, e.g. "DELTA_BATCH".
    public var specName: String {
        switch self {
        case .hello: return "HELLO"
        case .welcome: return "WELCOME"
        case .versionRange: return "VERSION_RANGE"
        case .submit: return "SUBMIT"
        case .withdraw: return "WITHDRAW"
        case .ack: return "ACK"
        case .reject: return "REJECT"
        case .subscribe: return "SUBSCRIBE"
        case .snapshot: return "SNAPSHOT"
        case .deltaBatch: return "DELTA_BATCH"
        case .heartbeat: return "HEARTBEAT"
        case .query: return "QUERY"
        case .scoreboard: return "SCOREBOARD"
        case .contest: return "CONTEST"
        case .election: return "ELECTION"
        case .goodbye: return "GOODBYE"
        }
    }
}

/// Every message of protocol v1.
public enum HubMessage: Hashable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case versionRange(VersionRange)
    case submit(Submit)
    case withdraw(WithdrawRequest)
    case ack(Ack)
    case reject(Reject)
    case subscribe(Subscribe)
    case snapshot(Snapshot)
    case deltaBatch(DeltaBatch)
    case heartbeat(Heartbeat)
    case query(Query)
    case scoreboard(ScoreboardAnswer)
    case contest(ContestAnswer)
    case election(ElectionAnswer)
    case goodbye(Goodbye)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .versionRange: return .versionRange
        case .submit: return .submit
        case .withdraw: return .withdraw
        case .ack: return .ack
        case .reject: return .reject
        case .subscribe: return .subscribe
        case .snapshot: return .snapshot
        case .deltaBatch: return .deltaBatch
        case .heartbeat: return .heartbeat
        case .query: return .query
        case .scoreboard: return .scoreboard
        case .contest: return .contest
        case .election: return .election
        case .goodbye: return .goodbye
        }
    }
}

/// A message's payload coding (spec 6), next to its struct in the message's own file.
protocol MessagePayload: Hashable, Sendable {
    /// Appends the payload's fields.
    func encode(into buffer: inout ByteBuffer)
    /// Reads the payload's fields. Bytes after the last known field are left unread (spec 2.1).
    static func decode(from reader: inout WireReader) throws(WireError) -> Self
}

/// Encodes and decodes message payloads (spec 6) by dispatching on the type to the message's own coding. Framing
/// and compression are `FrameCodec`'s.
public enum MessageCodec {
    public static func encodePayload(_ message: HubMessage, into buffer: inout ByteBuffer) {
        switch message {
        case .hello(let payload): payload.encode(into: &buffer)
        case .welcome(let payload): payload.encode(into: &buffer)
        case .versionRange(let payload): payload.encode(into: &buffer)
        case .submit(let payload): payload.encode(into: &buffer)
        case .withdraw(let payload): payload.encode(into: &buffer)
        case .ack(let payload): payload.encode(into: &buffer)
        case .reject(let payload): payload.encode(into: &buffer)
        case .subscribe(let payload): payload.encode(into: &buffer)
        case .snapshot(let payload): payload.encode(into: &buffer)
        case .deltaBatch(let payload): payload.encode(into: &buffer)
        case .heartbeat(let payload): payload.encode(into: &buffer)
        case .query(let payload): payload.encode(into: &buffer)
        case .scoreboard(let payload): payload.encode(into: &buffer)
        case .contest(let payload): payload.encode(into: &buffer)
        case .election(let payload): payload.encode(into: &buffer)
        case .goodbye(let payload): payload.encode(into: &buffer)
        }
    }

    /// Decodes one (already decompressed) payload. Bytes after the last known field are ignored (spec 2.1).
    public static func decodePayload(type: MessageType, payload: ByteBuffer) throws(WireError) -> HubMessage {
        var reader = WireReader(payload)
        switch type {
        case .hello: return .hello(try Hello.decode(from: &reader))
        case .welcome: return .welcome(try Welcome.decode(from: &reader))
        case .versionRange: return .versionRange(try VersionRange.decode(from: &reader))
        case .submit: return .submit(try Submit.decode(from: &reader))
        case .withdraw: return .withdraw(try WithdrawRequest.decode(from: &reader))
        case .ack: return .ack(try Ack.decode(from: &reader))
        case .reject: return .reject(try Reject.decode(from: &reader))
        case .subscribe: return .subscribe(try Subscribe.decode(from: &reader))
        case .snapshot: return .snapshot(try Snapshot.decode(from: &reader))
        case .deltaBatch: return .deltaBatch(try DeltaBatch.decode(from: &reader))
        case .heartbeat: return .heartbeat(try Heartbeat.decode(from: &reader))
        case .query: return .query(try Query.decode(from: &reader))
        case .scoreboard: return .scoreboard(try ScoreboardAnswer.decode(from: &reader))
        case .contest: return .contest(try ContestAnswer.decode(from: &reader))
        case .election: return .election(try ElectionAnswer.decode(from: &reader))
        case .goodbye: return .goodbye(try Goodbye.decode(from: &reader))
        }
    }
}

extension HubMessage {
    /// This message as a rehearsal hub sends it (spec 6.17): WELCOME and the messages that carry results are marked
    /// as test data; the others are unchanged.
    public func markedAsRehearsal() -> HubMessage {
        switch self {
        case .welcome(var welcome):
            welcome.rehearsal = true
            return .welcome(welcome)
        case .snapshot(var snapshot):
            snapshot.rehearsal = true
            return .snapshot(snapshot)
        case .deltaBatch(var batch):
            batch.rehearsal = true
            return .deltaBatch(batch)
        case .scoreboard(var answer):
            answer.rehearsal = true
            return .scoreboard(answer)
        case .contest(var answer):
            answer.rehearsal = true
            return .contest(answer)
        default:
            return self
        }
    }
}
