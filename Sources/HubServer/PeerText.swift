/// Text a peer chose (a desk id, a subscriber or client name), made safe to log: control characters are escaped so
/// that a newline cannot start a forged log line, and the length is bounded.
enum PeerText {
    static let maxLoggedCharacters = 64

    static func loggable(_ text: String, maxCharacters: Int = maxLoggedCharacters) -> String {
        var result = ""
        var count = 0
        for scalar in text.unicodeScalars {
            guard count < maxCharacters else {
                result += "…"
                break
            }
            count += 1
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            // C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
            case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}":
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// What is logged for a desk id or subscriber name that nobody has: not the text itself, which may be a token
    /// or key typed into the wrong field, only its length.
    static func unknown(_ text: String, _ what: String) -> String {
        "(unknown \(what) of \(text.utf8.count) bytes, not logged)"
    }
}
