import ElectionModel
import NIOCore

/// Encodes and decodes message payloads (spec 6). Framing and compression are `FrameCodec`'s.
public enum MessageCodec {
    public static func encodePayload(_ message: HubMessage, into buffer: inout ByteBuffer) {
        switch message {
        case .hello(let hello):
            buffer.writeBytes(Hello.magic)
            buffer.writeVarint(hello.minVersion)
            buffer.writeVarint(hello.maxVersion)
            buffer.writeInteger(hello.role.rawValue)
            buffer.writeWireString(hello.principal)
            buffer.writeWireString(hello.secret)
            buffer.writeInteger(hello.compression.rawValue)
            buffer.writeWireString(hello.clientName)
        case .welcome(let welcome):
            buffer.writeVarint(welcome.version)
            buffer.writeWireString(welcome.hubName)
            buffer.writeWireString(welcome.electionID)
            buffer.writeInteger(welcome.electionDigest)
            buffer.writeVarint(welcome.latestSequence)
            buffer.writeInteger(welcome.compression.rawValue)
            buffer.writeVarint(welcome.maxFrameLength)
            buffer.writeVarint(welcome.maxDecompressedLength)
            buffer.writeVarint(welcome.heartbeatIntervalMillis)
            buffer.writeWireBool(welcome.allRegions)
            buffer.writeVarint(welcome.regions.count)
            for region in welcome.regions { buffer.writeVarint(region.rawValue) }
            if let digest = welcome.definitionDigest { buffer.writeInteger(digest) }
        case .versionRange(let range):
            buffer.writeVarint(range.minVersion)
            buffer.writeVarint(range.maxVersion)
            buffer.writeWireString(range.message)
        case .submit(let submit):
            buffer.writeVarint(submit.requestID)
            encodeDeclaration(submit.declaration, into: &buffer)
        case .withdraw(let request):
            buffer.writeVarint(request.requestID)
            buffer.writeVarint(request.withdrawal.contestID.rawValue)
            buffer.writeVarint(request.withdrawal.revision)
            buffer.writeVarint(request.withdrawal.withdrawnAt)
            buffer.writeWireString(request.withdrawal.reason)
        case .ack(let ack):
            buffer.writeVarint(ack.requestID)
            buffer.writeVarint(ack.sequence)
            buffer.writeWireBool(ack.duplicate)
            buffer.writeVarint(ack.contestID.rawValue)
            buffer.writeVarint(ack.revision)
            buffer.writeInteger(ack.status.rawValue)
            buffer.writeVarint(WireControl.encode(ack.control))
            buffer.writeInteger(ack.outcome.rawValue)
        case .reject(let reject):
            buffer.writeVarint(reject.requestID)
            buffer.writeInteger(reject.code.rawValue)
            buffer.writeWireString(reject.message)
        case .subscribe(let subscribe):
            switch subscribe.filter {
            case .all:
                buffer.writeInteger(UInt8(0))
            case .regions(let regions):
                buffer.writeInteger(UInt8(1))
                buffer.writeVarint(regions.count)
                for region in regions { buffer.writeVarint(region.rawValue) }
            case .contestKind(let kind):
                buffer.writeInteger(UInt8(2))
                buffer.writeInteger(kind.rawValue)
            }
            buffer.writeWireBool(subscribe.resumeFrom != nil)
            if let from = subscribe.resumeFrom { buffer.writeVarint(from) }
        case .snapshot(let snapshot):
            buffer.writeVarint(snapshot.sequence)
            buffer.writeInteger(snapshot.reason.rawValue)
            buffer.writeVarint(snapshot.records.count)
            for record in snapshot.records { RecordCodec.encode(record, into: &buffer) }
            buffer.writeInteger(snapshot.checksum)
        case .deltaBatch(let batch):
            buffer.writeVarint(batch.firstSequence)
            buffer.writeVarint(batch.lastSequence)
            buffer.writeWireBool(batch.conflated)
            buffer.writeVarint(batch.events.count)
            for event in batch.events {
                buffer.writeVarint(event.sequence - batch.firstSequence)
                RecordCodec.encode(event.record, into: &buffer)
            }
            buffer.writeInteger(batch.checksum)
        case .heartbeat(let heartbeat):
            buffer.writeVarint(heartbeat.sequence)
        case .query(let query):
            buffer.writeVarint(query.requestID)
            switch query.kind {
            case .scoreboard:
                buffer.writeInteger(UInt8(1))
            case .contest(let id):
                buffer.writeInteger(UInt8(2))
                buffer.writeVarint(id.rawValue)
            case .election:
                buffer.writeInteger(UInt8(3))
            }
        case .scoreboard(let answer):
            let board = answer.scoreboard
            buffer.writeVarint(answer.requestID)
            buffer.writeVarint(board.sequence)
            buffer.writeVarint(board.contestsDeclared)
            buffer.writeVarint(board.contestsTotal)
            buffer.writeVarint(board.noOverallControl)
            buffer.writeSignedVarint(Int64(board.noOverallControlChange))
            buffer.writeVarint(board.rows.count)
            for row in board.rows {
                buffer.writeVarint(row.party.rawValue)
                buffer.writeVarint(row.councils)
                buffer.writeSignedVarint(Int64(row.councilsChange))
                buffer.writeVarint(row.councillors)
                buffer.writeVarint(row.mayors)
            }
            // Protocol 1.1: the councillor comparison, one entry per row (spec 6.13).
            buffer.writeVarint(board.councilsCompared)
            buffer.writeVarint(board.councilsNotCompared)
            buffer.writeVarint(board.rows.count)
            for row in board.rows {
                buffer.writeVarint(row.councillorsCompared)
                buffer.writeSignedVarint(Int64(row.councillorsChange))
            }
        case .contest(let answer):
            buffer.writeVarint(answer.requestID)
            buffer.writeVarint(answer.sequence)
            buffer.writeWireBool(answer.record != nil)
            if let record = answer.record { RecordCodec.encode(record, into: &buffer) }
            // Protocol 1.1 (spec 6.14).
            buffer.writeWireBool(answer.seatChanges != nil)
            if let changes = answer.seatChanges {
                buffer.writeVarint(changes.count)
                for entry in changes {
                    buffer.writeVarint(entry.party.rawValue)
                    buffer.writeSignedVarint(Int64(entry.change))
                }
            }
        case .election(let answer):
            buffer.writeVarint(answer.requestID)
            buffer.writeInteger(answer.digest)
            let start = buffer.writerIndex
            answer.definition.encode(into: &buffer)
            // Protocol 1.1 (spec 6.15): H of the whole definition, core and details, after it.
            let definition = buffer.getSlice(at: start, length: buffer.writerIndex - start)!
            buffer.writeInteger(StateHash.hash(definition.readableBytesView))
        case .goodbye(let goodbye):
            buffer.writeInteger(goodbye.code.rawValue)
            buffer.writeWireString(goodbye.message)
            buffer.writeVarint(goodbye.lastSequence)
        }
    }

    static func encodeDeclaration(_ declaration: Declaration, into buffer: inout ByteBuffer) {
        buffer.writeVarint(declaration.contestID.rawValue)
        buffer.writeVarint(declaration.revision)
        let fields = OptionalFields(
            votes: declaration.votes != nil, turnout: declaration.turnoutBasisPoints != nil,
            candidateVotes: declaration.candidateVotes != nil)
        buffer.writeVarint(fields.rawValue)
        RecordCodec.writeCounts(declaration.seats, into: &buffer)
        if let votes = declaration.votes { RecordCodec.writeCounts(votes, into: &buffer) }
        if let turnout = declaration.turnoutBasisPoints { buffer.writeVarint(turnout) }
        if let candidateVotes = declaration.candidateVotes {
            RecordCodec.writeCandidateVotes(candidateVotes, into: &buffer)
        }
        buffer.writeVarint(declaration.declaredAt)
    }

    static func decodeDeclaration(from reader: inout WireReader) throws(WireError) -> Declaration {
        let contestID = ContestID(try reader.nonZeroVarint32("declaration.contestID"))
        let revision = try reader.nonZeroVarint32("declaration.revision")
        let fields = try OptionalFields.read(&reader, "declaration.fields")
        let seats = try RecordCodec.readCounts(&reader, "declaration.seats", canonical: false)
        let votes =
            fields.contains(.votes) ? try RecordCodec.readCounts(&reader, "declaration.votes", canonical: false) : nil
        let turnout =
            fields.contains(.turnout)
            ? UInt16(try reader.varint("declaration.turnout", max: UInt64(UInt16.max))) : nil
        let candidateVotes =
            fields.contains(.candidateVotes)
            ? try RecordCodec.readCandidateVotes(&reader, "declaration.candidateVotes") : nil
        let declaredAt = try reader.varint("declaration.declaredAt")
        return Declaration(
            contestID: contestID, revision: revision, seats: seats, votes: votes, turnoutBasisPoints: turnout,
            candidateVotes: candidateVotes, declaredAt: declaredAt)
    }

    /// Decodes one (already decompressed) payload. Bytes after the last known field are ignored (spec 2.1).
    public static func decodePayload(type: MessageType, payload: ByteBuffer) throws(WireError) -> HubMessage {
        var reader = WireReader(payload)
        switch type {
        case .hello:
            let magic = try reader.bytes(4, "hello.magic")
            guard magic.readableBytesView.elementsEqual(Hello.magic) else {
                throw WireError(.notThisProtocol(.unknown), "HELLO does not start with the magic RHUB")
            }
            let minVersion = try reader.varint32("hello.minVersion")
            let maxVersion = try reader.varint32("hello.maxVersion")
            guard minVersion >= 1, minVersion <= maxVersion else {
                throw .malformed("hello versions \(minVersion)...\(maxVersion) are not a valid range")
            }
            let rawRole = try reader.u8("hello.role")
            guard let role = ClientRole(rawValue: rawRole) else { throw .malformed("hello.role \(rawRole) is unknown") }
            let principal = try reader.string("hello.principal", maxBytes: WireLimits.maxPrincipalBytes)
            let secret = try reader.string("hello.secret", maxBytes: WireLimits.maxSecretBytes)
            // Unknown bits are formats of later versions: HELLO must parse across versions, so they are ignored.
            let compression = CompressionSupport(rawValue: try reader.u8("hello.compression")).intersection(.all)
            let clientName = try reader.string("hello.clientName", maxBytes: WireLimits.maxNameBytes)
            return .hello(
                Hello(
                    minVersion: minVersion, maxVersion: maxVersion, role: role, principal: principal, secret: secret,
                    compression: compression, clientName: clientName))
        case .welcome:
            let version = try reader.nonZeroVarint32("welcome.version")
            let hubName = try reader.string("welcome.hubName", maxBytes: WireLimits.maxNameBytes)
            let electionID = try reader.string("welcome.electionID", maxBytes: WireLimits.maxNameBytes)
            let digest = try reader.u64("welcome.electionDigest")
            let latest = try reader.varint("welcome.latestSequence")
            let rawCompression = try reader.u8("welcome.compression")
            guard let compression = CompressionFormat(rawValue: rawCompression) else {
                throw .malformed("welcome.compression \(rawCompression) is unknown")
            }
            let maxFrame = try reader.varint32("welcome.maxFrameLength")
            let maxDecompressed = try reader.varint32("welcome.maxDecompressedLength")
            let heartbeat = try reader.varint32("welcome.heartbeatIntervalMillis")
            let allRegions = try reader.bool("welcome.allRegions")
            let regionCount = try reader.count("welcome.regions", max: WireLimits.maxDefinitionEntries)
            var regions: [RegionIndex] = []
            regions.reserveCapacity(regionCount)
            guard !(allRegions && regionCount > 0) else {
                throw .malformed("welcome.regions is not empty but allRegions is set")
            }
            for _ in 0..<regionCount {
                regions.append(RegionIndex(Int(try reader.varint("welcome.regions", max: WireLimits.maxIndex))))
            }
            // Protocol 1.1; a 1.0 hub's WELCOME ends here.
            let definitionDigest = reader.remaining > 0 ? try reader.u64("welcome.definitionDigest") : nil
            return .welcome(
                Welcome(
                    version: version, hubName: hubName, electionID: electionID, electionDigest: digest,
                    latestSequence: latest, compression: compression, maxFrameLength: maxFrame,
                    maxDecompressedLength: maxDecompressed, heartbeatIntervalMillis: heartbeat, allRegions: allRegions,
                    regions: regions, definitionDigest: definitionDigest))
        case .versionRange:
            let minVersion = try reader.nonZeroVarint32("versionRange.minVersion")
            let maxVersion = try reader.varint32("versionRange.maxVersion")
            guard minVersion <= maxVersion else {
                throw .malformed("versionRange \(minVersion)...\(maxVersion) is not a valid range")
            }
            return .versionRange(
                VersionRange(
                    minVersion: minVersion, maxVersion: maxVersion,
                    message: try reader.string("versionRange.message", maxBytes: WireLimits.maxMessageBytes)))
        case .submit:
            let requestID = try reader.varint("submit.requestID")
            do throws(WireError) {
                return .submit(Submit(requestID: requestID, declaration: try decodeDeclaration(from: &reader)))
            } catch {
                throw error.about(requestID: requestID)
            }
        case .withdraw:
            let requestID = try reader.varint("withdraw.requestID")
            do throws(WireError) {
                let withdrawal = Withdrawal(
                    contestID: ContestID(try reader.nonZeroVarint32("withdraw.contestID")),
                    revision: try reader.nonZeroVarint32("withdraw.revision"),
                    withdrawnAt: try reader.varint("withdraw.withdrawnAt"),
                    reason: try reader.string("withdraw.reason", maxBytes: WireLimits.maxReasonBytes))
                return .withdraw(WithdrawRequest(requestID: requestID, withdrawal: withdrawal))
            } catch {
                throw error.about(requestID: requestID)
            }
        case .ack:
            let requestID = try reader.varint("ack.requestID")
            let sequence = try reader.varint("ack.sequence")
            let duplicate = try reader.bool("ack.duplicate")
            let contestID = ContestID(try reader.nonZeroVarint32("ack.contestID"))
            let revision = try reader.nonZeroVarint32("ack.revision")
            let rawStatus = try reader.u8("ack.status")
            guard let status = RecordStatus(rawValue: rawStatus) else {
                throw .malformed("ack.status \(rawStatus) is unknown")
            }
            let control = WireControl.decode(try reader.varint("ack.control", max: WireLimits.maxIndex + 1))
            let rawOutcome = try reader.u8("ack.outcome")
            guard let outcome = Outcome(rawValue: rawOutcome) else {
                throw .malformed("ack.outcome \(rawOutcome) is unknown")
            }
            guard status == .declared || (control == .noOverallControl && outcome == .unknown) else {
                throw .malformed("ack.control and ack.outcome must be 0 for a withdrawal")
            }
            return .ack(
                Ack(
                    requestID: requestID, sequence: sequence, duplicate: duplicate, contestID: contestID,
                    revision: revision, status: status, control: control, outcome: outcome))
        case .reject:
            return .reject(
                Reject(
                    requestID: try reader.varint("reject.requestID"),
                    code: ErrorCode(rawValue: try reader.u16("reject.code")),
                    message: try reader.string("reject.message", maxBytes: WireLimits.maxMessageBytes)))
        case .subscribe:
            let filterKind = try reader.u8("subscribe.filterKind")
            let filter: SubscriptionFilter
            switch filterKind {
            case 0:
                filter = .all
            case 1:
                let count = try reader.count("subscribe.regions", max: WireLimits.maxFilterRegions)
                guard count >= 1 else { throw .malformed("subscribe.regions is empty") }
                var regions: [RegionIndex] = []
                regions.reserveCapacity(count)
                for _ in 0..<count {
                    regions.append(RegionIndex(Int(try reader.varint("subscribe.regions", max: WireLimits.maxIndex))))
                }
                filter = .regions(regions)
            case 2:
                let rawKind = try reader.u8("subscribe.contestKind")
                guard let kind = ContestKind(rawValue: rawKind) else {
                    throw .malformed("subscribe.contestKind \(rawKind) is unknown")
                }
                filter = .contestKind(kind)
            default:
                throw .malformed("subscribe.filterKind \(filterKind) is unknown")
            }
            let resume = try reader.bool("subscribe.resume")
            let from = resume ? try reader.varint("subscribe.fromSequence") : nil
            return .subscribe(Subscribe(filter: filter, resumeFrom: from))
        case .snapshot:
            let sequence = try reader.varint("snapshot.sequence")
            let rawReason = try reader.u8("snapshot.reason")
            guard let reason = SnapshotReason(rawValue: rawReason) else {
                throw .malformed("snapshot.reason \(rawReason) is unknown")
            }
            let count = try reader.count("snapshot.contests", max: WireLimits.maxSnapshotRecords)
            var records: [ContestRecord] = []
            records.reserveCapacity(count)
            for _ in 0..<count {
                let record = try RecordCodec.decode(from: &reader)
                if let previous = records.last, previous.contestID >= record.contestID {
                    throw .malformed("snapshot.contests are not in strictly ascending contest id")
                }
                records.append(record)
            }
            let checksum = try reader.u64("snapshot.checksum")
            let computed = StateChecksum(records: records).value
            guard checksum == computed else {
                throw WireError(
                    .checksumMismatch,
                    "snapshot.checksum is 0x\(String(checksum, radix: 16)) but its records sum to 0x\(String(computed, radix: 16))"
                )
            }
            return .snapshot(Snapshot(sequence: sequence, reason: reason, records: records, checksum: checksum))
        case .deltaBatch:
            let first = try reader.varint("deltaBatch.firstSequence")
            guard first >= 1 else { throw .malformed("deltaBatch.firstSequence is 0; sequence numbers start at 1") }
            let last = try reader.varint("deltaBatch.lastSequence")
            guard last >= first else {
                throw .malformed("deltaBatch.lastSequence \(last) is below firstSequence \(first)")
            }
            let conflated = try reader.bool("deltaBatch.conflated")
            let count = try reader.count("deltaBatch.events", max: WireLimits.maxBatchEvents)
            var events: [SequencedRecord] = []
            events.reserveCapacity(count)
            for _ in 0..<count {
                let offset = try reader.varint("deltaBatch.sequenceOffset")
                guard offset <= last - first else {
                    throw .malformed(
                        "deltaBatch.sequenceOffset \(offset) is outside the batch's range \(first)...\(last)")
                }
                let sequence = first + offset
                if let previous = events.last, previous.sequence >= sequence {
                    throw .malformed("deltaBatch.events are not in strictly ascending sequence")
                }
                events.append(SequencedRecord(sequence: sequence, record: try RecordCodec.decode(from: &reader)))
            }
            let checksum = try reader.u64("deltaBatch.checksum")
            return .deltaBatch(
                DeltaBatch(
                    firstSequence: first, lastSequence: last, conflated: conflated, events: events, checksum: checksum))
        case .heartbeat:
            return .heartbeat(Heartbeat(sequence: try reader.varint("heartbeat.sequence")))
        case .query:
            let requestID = try reader.varint("query.requestID")
            let rawKind = try reader.u8("query.kind")
            switch rawKind {
            case 1: return .query(Query(requestID: requestID, kind: .scoreboard))
            case 2:
                return .query(
                    Query(
                        requestID: requestID, kind: .contest(ContestID(try reader.nonZeroVarint32("query.contestID")))))
            case 3: return .query(Query(requestID: requestID, kind: .election))
            default: throw .malformed("query.kind \(rawKind) is unknown")
            }
        case .scoreboard:
            let requestID = try reader.varint("scoreboard.requestID")
            let sequence = try reader.varint("scoreboard.sequence")
            let declared = try reader.varint("scoreboard.contestsDeclared", max: UInt64(UInt32.max))
            let total = try reader.varint("scoreboard.contestsTotal", max: UInt64(UInt32.max))
            let noc = try reader.varint("scoreboard.noOverallControl", max: UInt64(UInt32.max))
            let nocChange = try reader.signedVarint("scoreboard.noOverallControlChange")
            let count = try reader.count("scoreboard.rows", max: WireLimits.maxScoreboardRows)
            var rows: [Scoreboard.Row] = []
            rows.reserveCapacity(count)
            for _ in 0..<count {
                let party = PartyIndex(Int(try reader.varint("row.partyIndex", max: WireLimits.maxIndex)))
                if let previous = rows.last, previous.party >= party {
                    throw .malformed("scoreboard.rows are not in strictly ascending party order")
                }
                rows.append(
                    Scoreboard.Row(
                        party: party,
                        councils: Int(try reader.varint("row.councils", max: UInt64(UInt32.max))),
                        councilsChange: Int(try reader.signedVarint("row.councilsChange")),
                        councillors: Int(try reader.varint("row.councillors", max: UInt64(UInt32.max))),
                        mayors: Int(try reader.varint("row.mayors", max: UInt64(UInt32.max)))))
            }
            var board = Scoreboard(
                sequence: sequence, contestsDeclared: Int(declared), contestsTotal: Int(total),
                noOverallControl: Int(noc), noOverallControlChange: Int(nocChange), rows: rows)
            // Protocol 1.1; a 1.0 hub's SCOREBOARD ends here and decodes with no councillor comparison.
            if reader.remaining > 0 {
                board.councilsCompared = Int(
                    try reader.varint("scoreboard.councilsCompared", max: UInt64(UInt32.max)))
                board.councilsNotCompared = Int(
                    try reader.varint("scoreboard.councilsNotCompared", max: UInt64(UInt32.max)))
                let count = try reader.count("scoreboard.councillorRows", max: WireLimits.maxScoreboardRows)
                guard count == rows.count else {
                    throw .malformed("scoreboard.councillorRows has \(count) entries for \(rows.count) rows")
                }
                for position in 0..<count {
                    board.rows[position].councillorsCompared = Int(
                        try reader.varint("councillorRow.councillorsCompared", max: UInt64(UInt32.max)))
                    board.rows[position].councillorsChange = Int(
                        try reader.signedVarint("councillorRow.councillorsChange", max: Int64(UInt32.max)))
                }
            }
            return .scoreboard(ScoreboardAnswer(requestID: requestID, scoreboard: board))
        case .contest:
            let requestID = try reader.varint("contest.requestID")
            let sequence = try reader.varint("contest.sequence")
            let present = try reader.bool("contest.present")
            let record = present ? try RecordCodec.decode(from: &reader) : nil
            // Protocol 1.1; a 1.0 hub's CONTEST ends here.
            var seatChanges: [SeatChange]?
            if reader.remaining > 0, try reader.bool("contest.seatChangesKnown") {
                let count = try reader.count("contest.seatChanges", max: WireLimits.maxSeatChanges)
                var changes: [SeatChange] = []
                changes.reserveCapacity(count)
                for _ in 0..<count {
                    let party = PartyIndex(Int(try reader.varint("seatChange.partyIndex", max: WireLimits.maxIndex)))
                    let change = try reader.signedVarint("seatChange.change", max: Int64(UInt32.max))
                    if let previous = changes.last, previous.party >= party {
                        throw .malformed("contest.seatChanges are not in strictly ascending party order")
                    }
                    guard change != 0 else { throw .malformed("contest.seatChanges lists a party with no change") }
                    changes.append(SeatChange(party: party, change: Int(change)))
                }
                seatChanges = changes
            }
            return .contest(
                ContestAnswer(requestID: requestID, sequence: sequence, record: record, seatChanges: seatChanges))
        case .election:
            let requestID = try reader.varint("election.requestID")
            let digest = try reader.u64("election.digest")
            let fromDefinition = reader.buffer
            var definition = try ElectionDefinition.decode(from: &reader)
            let coreLength = fromDefinition.readableBytes - reader.remaining
            guard StateHash.hash(fromDefinition.readableBytesView.prefix(coreLength)) == digest else {
                throw WireError(.checksumMismatch, "election.digest is not H of the definition that follows it")
            }
            // Protocol 1.1: the details section and the digest of the whole definition; a 1.0 hub's ends here.
            if reader.remaining > 0 {
                try definition.decodeDetails(from: &reader)
                let definitionLength = fromDefinition.readableBytes - reader.remaining
                let definitionDigest = try reader.u64("election.definitionDigest")
                guard StateHash.hash(fromDefinition.readableBytesView.prefix(definitionLength)) == definitionDigest
                else {
                    throw WireError(
                        .checksumMismatch, "election.definitionDigest is not H of the definition with its details")
                }
            }
            return .election(ElectionAnswer(requestID: requestID, digest: digest, definition: definition))
        case .goodbye:
            return .goodbye(
                Goodbye(
                    code: ErrorCode(rawValue: try reader.u16("goodbye.code")),
                    message: try reader.string("goodbye.message", maxBytes: WireLimits.maxMessageBytes),
                    lastSequence: try reader.varint("goodbye.lastSequence")))
        }
    }
}
