import ElectionModel
import NIOCore

/// SCOREBOARD (spec 6.13): the answer to a scoreboard QUERY.
public struct ScoreboardAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var scoreboard: Scoreboard
    /// Specification 1.2 (section 6.17): the hub serves a rehearsal, so the results are test data. Encoded only when
    /// set; absent is live data.
    public var rehearsal = false
    public init(requestID: UInt64, scoreboard: Scoreboard) {
        self.requestID = requestID
        self.scoreboard = scoreboard
    }
}

extension ScoreboardAnswer: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        let board = scoreboard
        buffer.writeVarint(requestID)
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
        if rehearsal { buffer.writeWireBool(true) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> ScoreboardAnswer {
        let requestID = try reader.varint("scoreboard.requestID")
        let sequence = try reader.varint("scoreboard.sequence")
        let declared = try reader.varint("scoreboard.contestsDeclared", max: WireLimits.maxCountValue)
        let total = try reader.varint("scoreboard.contestsTotal", max: WireLimits.maxCountValue)
        let noc = try reader.varint("scoreboard.noOverallControl", max: WireLimits.maxCountValue)
        let nocChange = try reader.signedVarint("scoreboard.noOverallControlChange")
        let count = try reader.count("scoreboard.rows", max: WireLimits.maxScoreboardRows)
        var rows: [Scoreboard.Row] = []
        rows.reserveCapacity(count)
        for _ in 0..<count {
            let party = PartyIndex(Int(try reader.varint("row.partyIndex", max: WireLimits.maxIndex)))
            if let previous = rows.last, previous.party >= party {
                throw reader.malformed("scoreboard.rows are not in strictly ascending party order")
            }
            rows.append(
                Scoreboard.Row(
                    party: party,
                    councils: Int(try reader.varint("row.councils", max: WireLimits.maxCountValue)),
                    councilsChange: Int(try reader.signedVarint("row.councilsChange")),
                    councillors: Int(try reader.varint("row.councillors", max: WireLimits.maxCountValue)),
                    mayors: Int(try reader.varint("row.mayors", max: WireLimits.maxCountValue))))
        }
        var board = Scoreboard(
            sequence: sequence, contestsDeclared: Int(declared), contestsTotal: Int(total),
            noOverallControl: Int(noc), noOverallControlChange: Int(nocChange), rows: rows)
        // Protocol 1.1; a 1.0 hub's SCOREBOARD ends here and decodes with no councillor comparison.
        if reader.remaining > 0 {
            board.councilsCompared = Int(
                try reader.varint("scoreboard.councilsCompared", max: WireLimits.maxCountValue))
            board.councilsNotCompared = Int(
                try reader.varint("scoreboard.councilsNotCompared", max: WireLimits.maxCountValue))
            let count = try reader.count("scoreboard.councillorRows", max: WireLimits.maxScoreboardRows)
            guard count == rows.count else {
                throw reader.malformed("scoreboard.councillorRows has \(count) entries for \(rows.count) rows")
            }
            for position in 0..<count {
                board.rows[position].councillorsCompared = Int(
                    try reader.varint("councillorRow.councillorsCompared", max: WireLimits.maxCountValue))
                board.rows[position].councillorsChange = Int(
                    try reader.signedVarint("councillorRow.councillorsChange", max: WireLimits.maxChangeMagnitude))
            }
        }
        var answer = ScoreboardAnswer(requestID: requestID, scoreboard: board)
        answer.rehearsal = try reader.rehearsalMarking("scoreboard.rehearsal")
        return answer
    }
}
