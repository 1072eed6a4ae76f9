import ElectionModel
import NIOCore

/// WITHDRAW (spec 6.5): a desk withdraws a contest's result. A field that fails after the request id is answered
/// with REJECT.
public struct WithdrawRequest: Hashable, Sendable {
    public var requestID: UInt64
    public var withdrawal: Withdrawal
    public init(requestID: UInt64, withdrawal: Withdrawal) {
        self.requestID = requestID
        self.withdrawal = withdrawal
    }
}

extension WithdrawRequest: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        buffer.writeVarint(withdrawal.contestID.rawValue)
        buffer.writeVarint(withdrawal.revision)
        buffer.writeVarint(withdrawal.withdrawnAt)
        buffer.writeWireString(withdrawal.reason)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> WithdrawRequest {
        let requestID = try reader.varint("withdraw.requestID")
        do throws(WireError) {
            let withdrawal = Withdrawal(
                contestID: ContestID(try reader.nonZeroVarint32("withdraw.contestID")),
                revision: try reader.nonZeroVarint32("withdraw.revision"),
                withdrawnAt: try reader.varint("withdraw.withdrawnAt"),
                reason: try reader.string("withdraw.reason", maxBytes: WireLimits.maxReasonBytes))
            return WithdrawRequest(requestID: requestID, withdrawal: withdrawal)
        } catch {
            throw error.about(requestID: requestID)
        }
    }
}
