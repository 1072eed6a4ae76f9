import ElectionModel
import Foundation
import HubWire

/// Builds messages from the vectors' JSON form (field names as in the spec's tables).
enum VectorMessage {
    struct Missing: Error, CustomStringConvertible {
        var field: String
        var description: String { "vector field \(field) is missing or has the wrong type" }
    }

    static func number(_ fields: [String: Any], _ key: String) throws -> UInt64 {
        guard let value = fields[key] as? NSNumber else { throw Missing(field: key) }
        return value.uint64Value
    }

    static func signed(_ fields: [String: Any], _ key: String) throws -> Int {
        guard let value = fields[key] as? NSNumber else { throw Missing(field: key) }
        return value.intValue
    }

    static func u32(_ fields: [String: Any], _ key: String) throws -> UInt32 { UInt32(try number(fields, key)) }

    static func string(_ fields: [String: Any], _ key: String) throws -> String {
        guard let value = fields[key] as? String else { throw Missing(field: key) }
        return value
    }

    static func bool(_ fields: [String: Any], _ key: String) throws -> Bool {
        guard let value = fields[key] as? Bool else { throw Missing(field: key) }
        return value
    }

    static func checksum(_ fields: [String: Any], _ key: String) throws -> UInt64 {
        guard let text = fields[key] as? String, let value = UInt64(text.dropFirst(2), radix: 16) else {
            throw Missing(field: key)
        }
        return value
    }

    static func counts(_ value: Any?) -> [PartyCount]? {
        guard let pairs = value as? [[NSNumber]] else { return nil }
        return pairs.map { PartyCount(party: PartyIndex($0[0].intValue), count: $0[1].uint32Value) }
    }

    static func control(_ raw: UInt64) -> Control { raw == 0 ? .noOverallControl : .party(PartyIndex(Int(raw - 1))) }

    static func record(_ fields: [String: Any]) throws -> ContestRecord {
        let id = ContestID(try u32(fields, "contestID"))
        let revision = try u32(fields, "revision")
        if try string(fields, "status") == "withdrawn" {
            return ContestRecord(
                contestID: id, revision: revision,
                state: .withdrawn(
                    WithdrawnResult(
                        withdrawnAt: try number(fields, "withdrawnAt"), deskID: try string(fields, "deskID"),
                        reason: try string(fields, "reason"))))
        }
        let result = DeclaredResult(
            control: control(try number(fields, "control")),
            outcome: Outcome(rawValue: UInt8(try number(fields, "outcome")))!,
            seats: counts(fields["seats"]) ?? [], votes: counts(fields["votes"]),
            turnoutBasisPoints: (fields["turnout"] as? NSNumber)?.uint16Value,
            candidateVotes: (fields["candidateVotes"] as? [NSNumber])?.map(\.uint32Value),
            declaredAt: try number(fields, "declaredAt"), deskID: try string(fields, "deskID"))
        return ContestRecord(contestID: id, revision: revision, state: .declared(result))
    }

    static func message(type: String, fields f: [String: Any]) throws -> HubMessage {
        let message = try unmarkedMessage(type: type, fields: f)
        // 1.2: the rehearsal marking (SPEC 6.17), in the messages that carry results.
        guard f["rehearsal"] as? Bool == true else { return message }
        let marked = message.markedAsRehearsal()
        guard marked != message else { throw Missing(field: "rehearsal in a \(type), which cannot carry it") }
        return marked
    }

    private static func unmarkedMessage(type: String, fields f: [String: Any]) throws -> HubMessage {
        switch type {
        case "HELLO":
            return .hello(
                Hello(
                    minVersion: try u32(f, "minVersion"), maxVersion: try u32(f, "maxVersion"),
                    role: ClientRole(rawValue: UInt8(try number(f, "role")))!, principal: try string(f, "principal"),
                    secret: try string(f, "secret"),
                    compression: CompressionSupport(rawValue: UInt8(try number(f, "compression"))),
                    clientName: try string(f, "clientName")))
        case "WELCOME":
            return .welcome(
                Welcome(
                    version: try u32(f, "version"), hubName: try string(f, "hubName"),
                    electionID: try string(f, "electionID"), electionDigest: try checksum(f, "electionDigest"),
                    latestSequence: try number(f, "latestSequence"),
                    compression: CompressionFormat(rawValue: UInt8(try number(f, "compression")))!,
                    maxFrameLength: try u32(f, "maxFrameLength"),
                    maxDecompressedLength: try u32(f, "maxDecompressedLength"),
                    heartbeatIntervalMillis: try u32(f, "heartbeatIntervalMillis"),
                    allRegions: try bool(f, "allRegions"),
                    regions: (f["regions"] as? [NSNumber] ?? []).map { RegionIndex($0.intValue) },
                    definitionDigest: f["definitionDigest"] == nil ? nil : try checksum(f, "definitionDigest")))
        case "VERSION_RANGE":
            return .versionRange(
                VersionRange(
                    minVersion: try u32(f, "minVersion"), maxVersion: try u32(f, "maxVersion"),
                    message: try string(f, "message")))
        case "SUBMIT":
            let d = f["declaration"] as! [String: Any]
            let declaration = Declaration(
                contestID: ContestID(try u32(d, "contestID")), revision: try u32(d, "revision"),
                seats: counts(d["seats"]) ?? [],
                votes: counts(d["votes"]), turnoutBasisPoints: (d["turnout"] as? NSNumber)?.uint16Value,
                candidateVotes: (d["candidateVotes"] as? [NSNumber])?.map(\.uint32Value),
                declaredAt: try number(d, "declaredAt"))
            return .submit(Submit(requestID: try number(f, "requestID"), declaration: declaration))
        case "WITHDRAW":
            return .withdraw(
                WithdrawRequest(
                    requestID: try number(f, "requestID"),
                    withdrawal: Withdrawal(
                        contestID: ContestID(try u32(f, "contestID")), revision: try u32(f, "revision"),
                        withdrawnAt: try number(f, "withdrawnAt"), reason: try string(f, "reason"))))
        case "ACK":
            return .ack(
                Ack(
                    requestID: try number(f, "requestID"), sequence: try number(f, "sequence"),
                    duplicate: try bool(f, "duplicate"),
                    contestID: ContestID(try u32(f, "contestID")), revision: try u32(f, "revision"),
                    status: try string(f, "status") == "withdrawn" ? .withdrawn : .declared,
                    control: control(try number(f, "control")),
                    outcome: Outcome(rawValue: UInt8(try number(f, "outcome")))!))
        case "REJECT":
            return .reject(
                Reject(
                    requestID: try number(f, "requestID"), code: ErrorCode(rawValue: UInt16(try number(f, "code"))),
                    message: try string(f, "message")))
        case "SUBSCRIBE":
            let filter: SubscriptionFilter
            switch try number(f, "filterKind") {
            case 0: filter = .all
            case 1: filter = .regions((f["regions"] as! [NSNumber]).map { RegionIndex($0.intValue) })
            default: filter = .contestKind(ContestKind(rawValue: UInt8(try number(f, "contestKind")))!)
            }
            return .subscribe(
                Subscribe(filter: filter, resumeFrom: try bool(f, "resume") ? try number(f, "fromSequence") : nil))
        case "SNAPSHOT":
            return .snapshot(
                Snapshot(
                    sequence: try number(f, "sequence"),
                    reason: SnapshotReason(rawValue: UInt8(try number(f, "reason")))!,
                    records: try (f["contests"] as! [[String: Any]]).map(record), checksum: try checksum(f, "checksum"))
            )
        case "DELTA_BATCH":
            let events = try (f["events"] as! [[String: Any]]).map {
                SequencedRecord(
                    sequence: try number($0, "sequence"), record: try record($0["record"] as! [String: Any]))
            }
            return .deltaBatch(
                DeltaBatch(
                    firstSequence: try number(f, "firstSequence"), lastSequence: try number(f, "lastSequence"),
                    conflated: try bool(f, "conflated"), events: events, checksum: try checksum(f, "checksum")))
        case "HEARTBEAT":
            return .heartbeat(Heartbeat(sequence: try number(f, "sequence")))
        case "QUERY":
            let kind: Query.Kind
            switch try number(f, "kind") {
            case 1: kind = .scoreboard
            case 2: kind = .contest(ContestID(try u32(f, "contestID")))
            default: kind = .election
            }
            return .query(Query(requestID: try number(f, "requestID"), kind: kind))
        case "SCOREBOARD":
            return .scoreboard(
                ScoreboardAnswer(requestID: try number(f, "requestID"), scoreboard: try scoreboard(f)))
        case "CONTEST":
            // 1.1: seat changes; absent from a 1.0 hub's answer, like "known: false".
            let seatChanges =
                (f["seatChangesKnown"] as? Bool ?? false)
                ? (f["seatChanges"] as! [[NSNumber]]).map {
                    SeatChange(party: PartyIndex($0[0].intValue), change: $0[1].intValue)
                } : nil
            return .contest(
                ContestAnswer(
                    requestID: try number(f, "requestID"), sequence: try number(f, "sequence"),
                    record: try bool(f, "present") ? try record(f["record"] as! [String: Any]) : nil,
                    seatChanges: seatChanges))
        case "ELECTION":
            return .election(
                ElectionAnswer(
                    requestID: try number(f, "requestID"), digest: try checksum(f, "digest"),
                    definition: try definition(f["definition"] as! [String: Any])))
        case "GOODBYE":
            return .goodbye(
                Goodbye(
                    code: ErrorCode(rawValue: UInt16(try number(f, "code"))), message: try string(f, "message"),
                    lastSequence: try number(f, "lastSequence"), leader: f["leader"] as? String))
        default:
            throw Missing(field: "type \(type)")
        }
    }

    /// A scoreboard's fields (without requestID), with the 1.1 ones when present.
    static func scoreboard(_ f: [String: Any]) throws -> Scoreboard {
        let rows = try (f["rows"] as! [[String: Any]]).map {
            Scoreboard.Row(
                party: PartyIndex(Int(try number($0, "partyIndex"))), councils: Int(try number($0, "councils")),
                councilsChange: try signed($0, "councilsChange"), councillors: Int(try number($0, "councillors")),
                mayors: Int(try number($0, "mayors")),
                councillorsCompared: ($0["councillorsCompared"] as? NSNumber)?.intValue ?? 0,
                councillorsChange: ($0["councillorsChange"] as? NSNumber)?.intValue ?? 0)
        }
        return Scoreboard(
            sequence: (f["sequence"] as? NSNumber)?.uint64Value ?? 0,
            contestsDeclared: Int(try number(f, "contestsDeclared")),
            contestsTotal: Int(try number(f, "contestsTotal")),
            noOverallControl: Int(try number(f, "noOverallControl")),
            noOverallControlChange: try signed(f, "noOverallControlChange"), rows: rows,
            councilsCompared: (f["councilsCompared"] as? NSNumber)?.intValue ?? 0,
            councilsNotCompared: (f["councilsNotCompared"] as? NSNumber)?.intValue ?? 0)
    }

    /// An election definition in the vectors' raw-number form, with the 1.1 details when present.
    static func definition(_ d: [String: Any]) throws -> ElectionDefinition {
        let definition = ElectionDefinition(
            id: try string(d, "id"), name: try string(d, "name"), date: try string(d, "date"),
            parties: try (d["parties"] as! [[String: Any]]).map {
                .init(
                    code: try string($0, "code"), name: try string($0, "name"),
                    flags: UInt8(try number($0, "flags")))
            },
            regions: try (d["regions"] as! [[String: Any]]).map {
                .init(id: try string($0, "id"), name: try string($0, "name"))
            },
            contests: try (d["contests"] as! [[String: Any]]).map {
                .init(
                    id: try u32($0, "id"), slug: try string($0, "slug"), name: try string($0, "name"),
                    regionIndex: try number($0, "regionIndex"),
                    kind: ContestKind(rawValue: UInt8(try number($0, "kind")))!,
                    totalSeats: try number($0, "totalSeats"), seatsUp: try number($0, "seatsUp"),
                    previousControl: try number($0, "previousControl"),
                    candidates: try ($0["candidates"] as! [[String: Any]]).map {
                        .init(name: try string($0, "name"), party: try number($0, "party"))
                    }, gssCode: $0["gssCode"] as? String, seatsBefore: counts($0["seatsBefore"]))
            }, seatsBeforeNote: d["seatsBeforeNote"] as? String ?? "")
        return definition
    }

    /// The vectors' name for a decoding failure.
    static func errorName(_ kind: WireError.Kind) -> String {
        switch kind {
        case .truncated: return "truncated"
        case .checksumMismatch: return "checksumMismatch"
        case .sequenceGap: return "sequenceGap"
        default: return WireError(kind, "").code.name
        }
    }
}
