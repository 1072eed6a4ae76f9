import Crypto
import ElectionModel
import Foundation
import HubCore

/// One desk as the desks file lists it: `{"id": "north-west", "token": "…", "regions": ["north-west"]}` or
/// `"regions": "*"` for every region.
public struct DeskCredential: Codable, Hashable, Sendable {
    public enum Regions: Hashable, Sendable, Codable {
        case all
        case some([String])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let star = try? container.decode(String.self) {
                guard star == "*" else {
                    throw DecodingError.dataCorruptedError(
                        in: container, debugDescription: "regions is \"\(star)\"; use \"*\" or a list of region ids")
                }
                self = .all
            } else {
                self = .some(try container.decode([String].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .all: try container.encode("*")
            case .some(let ids): try container.encode(ids)
            }
        }
    }

    public var id: String
    public var token: String
    public var regions: Regions

    public init(id: String, token: String, regions: Regions) {
        self.id = id
        self.token = token
        self.regions = regions
    }
}

/// A token as the desks file stores it: HMAC-SHA256 of the token keyed by a random 16-byte salt of its own, written
/// `"hmac-sha256:<salt, 32 hex digits>:<digest, 64 hex digits>"`. Tokens are 128 random bits, so a slow password
/// hash would add nothing; the salt makes equal tokens hash differently and every record stands alone (adding or
/// rotating a desk touches one record). The plain token is never stored.
public struct TokenHash: Hashable, Sendable, CustomStringConvertible {
    public static let scheme = "hmac-sha256"
    public let salt: [UInt8]
    public let digest: [UInt8]

    public init(salt: [UInt8], token: String) {
        self.salt = salt
        self.digest = Array(HMAC<SHA256>.authenticationCode(for: Array(token.utf8), using: SymmetricKey(data: salt)))
    }

    /// A fresh random salt (the system's cryptographic generator).
    public init(hashing token: String) {
        var generator = SystemRandomNumberGenerator()
        self.init(salt: (0..<16).map { _ in generator.next() as UInt8 }, token: token)
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == Self.scheme, let salt = [UInt8](hex: parts[1]), salt.count == 16,
            let digest = [UInt8](hex: parts[2]), digest.count == 32
        else { return nil }
        self.salt = salt
        self.digest = digest
    }

    public var description: String { "\(Self.scheme):\(salt.hexText):\(digest.hexText)" }

    /// Whether `token` hashes to this, compared in constant time.
    public func matches(_ token: String) -> Bool {
        DeskDirectory.constantTimeEqual(TokenHash(salt: salt, token: token).digest, digest)
    }
}

/// One record of the desks file. Written with `tokenHash` only; a record with a plain `token` (the format before
/// tokens were hashed) is still read, and the hub warns about it.
public struct StoredDesk: Codable, Hashable, Sendable {
    public var id: String
    public var regions: DeskCredential.Regions
    public var tokenHash: TokenHash?
    /// The previous format: the token itself.
    public var token: String?

    public init(id: String, regions: DeskCredential.Regions, tokenHash: TokenHash) {
        self.id = id
        self.regions = regions
        self.tokenHash = tokenHash
        self.token = nil
    }

    /// A desk given its plain token: stored hashed.
    public init(_ credential: DeskCredential) {
        self.init(id: credential.id, regions: credential.regions, tokenHash: TokenHash(hashing: credential.token))
    }

    enum CodingKeys: String, CodingKey {
        case id, regions, tokenHash, token
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        regions = try container.decode(DeskCredential.Regions.self, forKey: .regions)
        token = try container.decodeIfPresent(String.self, forKey: .token)
        if let text = try container.decodeIfPresent(String.self, forKey: .tokenHash) {
            guard let hash = TokenHash(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .tokenHash, in: container,
                    debugDescription: "desk \(id): tokenHash is not \"hmac-sha256:<32 hex digits>:<64 hex digits>\"")
            }
            tokenHash = hash
        } else {
            tokenHash = nil
        }
        guard (token == nil) != (tokenHash == nil) else {
            throw DecodingError.dataCorruptedError(
                forKey: .tokenHash, in: container, debugDescription: "desk \(id) needs one of tokenHash or token")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(regions, forKey: .regions)
        try container.encodeIfPresent(tokenHash?.description, forKey: .tokenHash)
        try container.encodeIfPresent(token, forKey: .token)
    }
}

/// The desks file (`DIR/desks.json` or `--desks`): a JSON list of `StoredDesk`.
public enum DesksFile {
    public static func decode(_ data: Data) throws(DeskDirectoryError) -> [StoredDesk] {
        do {
            return try JSONDecoder().decode([StoredDesk].self, from: data)
        } catch {
            throw DeskDirectoryError(
                message: "the desks file is not a JSON list of {id, tokenHash (or token), regions}: \(error)")
        }
    }

    public static func encode(_ desks: [StoredDesk]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(desks)) ?? Data("[]".utf8)) + Data("\n".utf8)
    }

    /// The ids of records that hold a plain token (the previous format).
    public static func plainTokenDesks(_ desks: [StoredDesk]) -> [String] {
        desks.filter { $0.token != nil }.map(\.id)
    }
}

/// The desks allowed to submit, and the check of their tokens. Tokens are held as salted HMAC-SHA256 digests,
/// compared in constant time, and never appear in logs or errors.
public struct DeskDirectory: Sendable {
    private struct Entry: Sendable {
        var identity: DeskIdentity
        var hash: TokenHash
        /// Changes when the desk's token or regions change (see `revocations(since:)`).
        var credential: UInt64
        var regions: DeskCredential.Regions
    }

    private let entries: [String: Entry]
    public var deskIDs: [String] { entries.keys.sorted() }

    public init(credentials: [DeskCredential], election: Election) throws(DeskDirectoryError) {
        try self.init(
            desks: credentials.map { StoredDesk(id: $0.id, regions: $0.regions, plainToken: $0.token) },
            election: election)
    }

    public init(desks: [StoredDesk], election: Election) throws(DeskDirectoryError) {
        var entries: [String: Entry] = [:]
        for desk in desks {
            guard !desk.id.isEmpty, desk.id.utf8.count <= 64 else {
                throw DeskDirectoryError(message: "desk id \"\(desk.id)\" must be 1 to 64 bytes")
            }
            let hash: TokenHash
            // What identifies this credential; for a plain token, not the random-salted hash made from it here.
            let stored: [UInt8]
            if let tokenHash = desk.tokenHash {
                hash = tokenHash
                stored = tokenHash.salt + tokenHash.digest
            } else {
                let token = desk.token ?? ""
                guard token.utf8.count >= 16, token.utf8.count <= 256 else {
                    throw DeskDirectoryError(message: "desk \(desk.id): the token must be 16 to 256 bytes")
                }
                hash = TokenHash(hashing: token)
                stored = Array(SHA256.hash(data: Array(token.utf8)))
            }
            let scope: RegionScope
            var regionText: [UInt8] = []
            switch desk.regions {
            case .all:
                scope = .all
                regionText = Array("*".utf8)
            case .some(let ids):
                var regions = Set<RegionIndex>()
                for id in ids {
                    guard let region = election.region(id: id) else {
                        throw DeskDirectoryError(message: "desk \(desk.id): unknown region \"\(id)\"")
                    }
                    regions.insert(region)
                }
                scope = .regions(regions)
                regionText = Array(Set(ids).sorted().joined(separator: ",").utf8)
            }
            let fingerprint = SHA256.hash(data: stored + [0] + regionText).withUnsafeBytes {
                $0.loadUnaligned(as: UInt64.self)
            }
            let entry = Entry(
                identity: DeskIdentity(id: desk.id, scope: scope), hash: hash, credential: fingerprint,
                regions: desk.regions)
            guard entries.updateValue(entry, forKey: desk.id) == nil else {
                throw DeskDirectoryError(message: "desk \(desk.id) is listed twice")
            }
        }
        self.entries = entries
    }

    /// The desk and the credential it was let in with, if the token is right. An unknown desk costs the same
    /// hash and comparison as a wrong token, so that timing does not reveal which desks exist.
    public func authenticate(deskID: String, token: String) -> (identity: DeskIdentity, credential: UInt64)? {
        guard let entry = entries[deskID] else {
            _ = Self.decoy.matches(token)
            return nil
        }
        return entry.hash.matches(token) ? (entry.identity, entry.credential) : nil
    }

    /// The credential a desk holds now: nil once it is revoked.
    public func credential(of deskID: String) -> UInt64? {
        entries[deskID]?.credential
    }

    /// The desks' regions (not secret), for listing.
    public func regions(of deskID: String) -> DeskCredential.Regions? {
        entries[deskID]?.regions
    }

    private static let decoy = TokenHash(salt: [UInt8](repeating: 0x5A, count: 16), token: "decoy")

    /// What changed for the desks of `old` in this directory: each desk revoked, or whose token or regions
    /// changed, with the reason its open connections are closed.
    public func revocations(since old: DeskDirectory) -> [DeskRevocation] {
        old.entries.keys.sorted().compactMap { id in
            let before = old.entries[id]!
            guard let now = entries[id] else {
                return DeskRevocation(deskID: id, reason: Self.revokedReason(id), keeping: nil)
            }
            guard now.credential != before.credential else { return nil }
            let reason =
                now.hash != before.hash && now.regions == before.regions
                ? Self.rotatedReason(id) : "desk \(id)'s token or regions were changed; reconnect"
            return DeskRevocation(deskID: id, reason: reason, keeping: now.credential)
        }
    }

    /// For a desk let in with `credential` that the directory no longer holds: why it is closed.
    public func revocation(of deskID: String, credential: UInt64) -> DeskRevocation? {
        guard let now = entries[deskID] else {
            return DeskRevocation(deskID: deskID, reason: Self.revokedReason(deskID), keeping: nil)
        }
        guard now.credential != credential else { return nil }
        return DeskRevocation(deskID: deskID, reason: Self.rotatedReason(deskID), keeping: now.credential)
    }

    static func revokedReason(_ id: String) -> String { "desk \(id) was revoked" }
    static func rotatedReason(_ id: String) -> String {
        "desk \(id)'s token was rotated; reconnect with the new token"
    }

    /// Compares every byte whatever the first difference; the length difference is folded in, not short-circuited.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt64(a.count ^ b.count)
        let length = max(a.count, b.count)
        for index in 0..<length {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= UInt64(x ^ y)
        }
        return difference == 0
    }

    /// A random 128-bit token, 32 hex digits.
    public static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }

    /// A desk for each region (named after it) and one national desk, each with a random 128-bit token.
    public static func generateCredentials(for election: Election) -> [DeskCredential] {
        election.regions.map { DeskCredential(id: $0.id, token: newToken(), regions: .some([$0.id])) }
            + [DeskCredential(id: "national", token: newToken(), regions: .all)]
    }

    /// A list of plain credentials (the previous desks file format, still read; and the new-tokens file).
    public static func decode(_ data: Data) throws(DeskDirectoryError) -> [DeskCredential] {
        do {
            return try JSONDecoder().decode([DeskCredential].self, from: data)
        } catch {
            throw DeskDirectoryError(message: "the file is not a JSON list of {id, token, regions}: \(error)")
        }
    }

    public static func encode(_ credentials: [DeskCredential]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(credentials)) ?? Data("[]".utf8)
    }
}

extension StoredDesk {
    /// A record in the previous format, as tests and hand-written files give it.
    init(id: String, regions: DeskCredential.Regions, plainToken: String) {
        self.id = id
        self.regions = regions
        self.tokenHash = nil
        self.token = plainToken
    }
}

public struct DeskDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension [UInt8] {
    fileprivate init?(hex: Substring) {
        guard hex.utf8.count % 2 == 0, hex.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }

    fileprivate var hexText: String {
        map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

/// Subscriber keys, when the operator configures them (`--subscribers FILE`: a JSON list of {"name", "key"}).
/// Without them any subscriber may watch; with them, a subscriber needs its name and key. Compared in constant time.
public struct SubscriberKeys: Sendable {
    public struct Entry: Codable, Hashable, Sendable {
        public var name: String
        public var key: String
        public init(name: String, key: String) {
            self.name = name
            self.key = key
        }
    }

    private let keys: [String: [UInt8]]
    /// The subscribers' names (not secret).
    public var names: Set<String> { Set(keys.keys) }

    public init(entries: [Entry]) throws(DeskDirectoryError) {
        var keys: [String: [UInt8]] = [:]
        for entry in entries {
            guard entry.key.utf8.count >= 16, entry.key.utf8.count <= 256 else {
                throw DeskDirectoryError(message: "subscriber \(entry.name): the key must be 16 to 256 bytes")
            }
            guard keys.updateValue(Array(entry.key.utf8), forKey: entry.name) == nil else {
                throw DeskDirectoryError(message: "subscriber \(entry.name) is listed twice")
            }
        }
        self.keys = keys
    }

    public static func decode(_ data: Data) throws(DeskDirectoryError) -> [Entry] {
        do {
            return try JSONDecoder().decode([Entry].self, from: data)
        } catch {
            throw DeskDirectoryError(message: "the subscribers file is not a JSON list of {name, key}: \(error)")
        }
    }

    public func authenticate(name: String, key: String) -> Bool {
        let offered = Array(key.utf8)
        guard let expected = keys[name] else {
            _ = DeskDirectory.constantTimeEqual(offered, [UInt8](repeating: 0x5A, count: 64))
            return false
        }
        return DeskDirectory.constantTimeEqual(offered, expected)
    }
}
