import ArgumentParser
import Foundation
import TOMLKit

/// `results-hub [serve] --config FILE` and the `RESULTS_HUB_<KEY>` environment variables: every option of `serve`
/// can come from a TOML file or from the environment, and the command line wins over the environment, which wins
/// over the file (so that secrets stay off the command line and out of the file).
///
/// Rather than reading the file into the command by hand, the file's keys and the environment's values become
/// arguments (`--port=7400`) placed before the command line's own, and ArgumentParser parses `Serve` from the lot.
/// So every setting is converted and validated exactly as its flag is, and the command line wins because, for an
/// option with one value, ArgumentParser keeps the last occurrence (the tests check that it still does). The keys
/// are the long names of `Serve`'s options, read from ArgumentParser's own description of the command (see
/// `ServeOptions`): an option someone adds to `Serve` is a key at once, and nothing here repeats their names.
struct ServeConfiguration {
    /// An environment variable's name is this and the key, upper-cased, `-` as `_`: `RESULTS_HUB_TLS_KEY`.
    /// Only the variables of known keys are read: `reporter`'s `RESULTS_HUB_TOKEN` and its like share the prefix.
    static let environmentPrefix = "RESULTS_HUB_"

    /// The option that names the file: on the command line or in the environment, never in the file itself.
    static let configKey = "config"

    let options: ServeOptions
    /// The names of the root command's other subcommands: their arguments are left alone.
    let otherSubcommands: Set<String>

    static func environmentVariable(for key: String) -> String {
        environmentPrefix + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// `results-hub`'s arguments with the settings of the file and the environment added for `serve`.
    static func arguments(commandLine: [String], environment: [String: String]) throws -> [String] {
        let configuration = ServeConfiguration(
            options: try ServeOptions(),
            otherSubcommands: Set(
                ResultsHubCommand.configuration.subcommands.map { $0._commandName } + ["help"]
            ).subtracting([ResultsHubCommand.Serve._commandName]))
        return try configuration.arguments(
            commandLine: commandLine, environment: environment,
            readFile: { path in
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ConfigurationError("cannot read the configuration file \(path); check --config")
                }
                return String(decoding: data, as: UTF8.self)
            })
    }

    /// - Parameter readFile: the text of the configuration file at a path.
    func arguments(
        commandLine: [String], environment: [String: String], readFile: (String) throws -> String
    ) throws -> [String] {
        guard let (subcommand, serveArguments) = servesWith(commandLine) else { return commandLine }
        var settings: [String: Setting] = [:]
        if let path = Self.configPath(in: serveArguments)
            ?? nonEmpty(environment[Self.environmentVariable(for: Self.configKey)])
        {
            settings = try fileSettings(TOMLDocument(path: path, text: try readFile(path)))
        }
        for key in options.kinds.keys {
            let variable = Self.environmentVariable(for: key)
            if let value = nonEmpty(environment[variable]) {
                settings[key] = Setting(value: .text(value), origin: variable)
            }
        }
        let settingArguments = try settings.keys.sorted().flatMap { key in try arguments(for: key, settings[key]!) }
        return subcommand + settingArguments + serveArguments
    }

    /// A value from the file or the environment, and where it came from (for error messages).
    struct Setting {
        enum Value {
            case text(String)
            /// A TOML number, as its text.
            case number(String)
            case boolean(Bool)
            /// A TOML table, array, date or time: no option takes one.
            case unsupported(typeName: String)
        }
        var value: Value
        /// `hub.toml: "port"` or `RESULTS_HUB_PORT`.
        var origin: String
    }

    /// The file's settings, its keys checked against the options.
    func fileSettings(_ document: TOMLDocument) throws -> [String: Setting] {
        var settings: [String: Setting] = [:]
        for (key, value) in document.values {
            guard key != Self.configKey else {
                throw ConfigurationError(
                    "\(document.path): \"\(key)\" cannot be set in a configuration file; give --config FILE or \(Self.environmentVariable(for: key))"
                )
            }
            guard options.kinds[key] != nil else {
                throw ConfigurationError(
                    "\(document.path): unknown key \"\(key)\"; the keys are the options of results-hub serve: \(options.kinds.keys.filter { $0 != Self.configKey }.sorted().joined(separator: ", "))"
                )
            }
            settings[key] = Setting(value: value, origin: "\(document.path): \"\(key)\"")
        }
        return settings
    }

    /// The argument a setting stands for: `--port=7400`, `--repair-journal`, or none for a flag set to false.
    func arguments(for key: String, _ setting: Setting) throws -> [String] {
        let arguments: [String]
        switch (options.kinds[key]!, setting.value) {
        case (.flag, .boolean(let on)):
            arguments = flagArguments(key, on)
        case (.flag, .text(let text)):
            // From the environment (or a string in the file): the text of a boolean.
            guard let on = Bool(text.lowercased()) else {
                throw ConfigurationError("\(setting.origin) is a flag: set it to true or false, not \"\(text)\"")
            }
            arguments = flagArguments(key, on)
        case (.flag, .number(let number)):
            throw ConfigurationError("\(setting.origin) is a flag: set it to true or false, not \(number)")
        case (.flag, .unsupported(let typeName)):
            throw ConfigurationError("\(setting.origin) is a flag: set it to true or false, not \(typeName)")
        case (.repeatingOption, _):
            throw ConfigurationError(
                "\(setting.origin): --\(key) may be given more than once, which is possible on the command line only")
        case (.option, .text(let text)), (.option, .number(let text)):
            arguments = ["--\(key)=\(text)"]
        case (.option, .boolean(let on)):
            arguments = ["--\(key)=\(on)"]
        case (.option, .unsupported(let typeName)):
            throw ConfigurationError(
                "\(setting.origin) must be one value (a string, a number or true/false), not \(typeName)")
        }
        try options.checkAlone(arguments, origin: setting.origin)
        return arguments
    }

    /// A flag set to true is given; set to false, its inversion is given if it has one (`--no-KEY`), else nothing,
    /// since a flag without an inversion is off unless given. Either way a flag on the command line still wins.
    private func flagArguments(_ key: String, _ on: Bool) -> [String] {
        if on { return ["--\(key)"] }
        return options.kinds["no-\(key)"] == .flag ? ["--no-\(key)"] : []
    }

    /// For a run of `serve`, the subcommand as given (`["serve"]`, or `[]` for the default) and its arguments; nil
    /// for another subcommand, and for a request for help or the version, which would otherwise become serve's
    /// (ArgumentParser answers `--help` for the deepest command it parsed, and settings make it parse `serve`).
    private func servesWith(_ commandLine: [String]) -> (subcommand: [String], arguments: [String])? {
        var subcommand: [String] = []
        var arguments = commandLine[...]
        if let first = arguments.first {
            if first == ResultsHubCommand.Serve._commandName {
                subcommand = [first]
                arguments = arguments.dropFirst()
            } else if otherSubcommands.contains(first) {
                return nil
            }
        }
        let requestsText: Set<String> = ["-h", "-help", "--help", "--version", "--experimental-dump-help"]
        guard !arguments.prefix(while: { $0 != "--" }).contains(where: requestsText.contains) else { return nil }
        return (subcommand, Array(arguments))
    }

    /// The value of the last `--config FILE` or `--config=FILE` on the command line.
    static func configPath(in arguments: [String]) -> String? {
        var path: String?
        var remaining = arguments[...]
        while let argument = remaining.popFirst(), argument != "--" {
            if argument == "--\(configKey)" {
                path = remaining.popFirst()
            } else if argument.hasPrefix("--\(configKey)=") {
                path = String(argument.dropFirst("--\(configKey)=".count))
            }
        }
        return path
    }

    /// An empty variable counts as unset, as container tools often define every variable they know of.
    private func nonEmpty(_ value: String?) -> String? {
        value.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The options of `results-hub serve`, by long name without the dashes (`port`, `tls-cert`, `repair-journal`).
///
/// They are read from ArgumentParser's description of the command for tools (`--experimental-dump-help`: JSON in
/// its ToolInfoV0 format, versioned by `serializationVersion`), rather than from `--help`'s text (meant for people,
/// reworded freely) or by trying each key on its own (which cannot tell a flag from an option).
struct ServeOptions {
    enum Kind: Equatable {
        case option
        case flag
        /// An array option: several values, which cannot be set from one key or variable.
        case repeatingOption
    }

    let kinds: [String: Kind]

    init() throws {
        try self.init(describing: ResultsHubCommand.Serve.self)
    }

    /// ArgumentParser's own flags are no settings.
    static let builtInNames: Set<String> = ["help", "version", "experimental-dump-help"]

    init(describing command: any ParsableCommand.Type) throws {
        // ArgumentParser answers the request by throwing, as it does for --help; the answer is the error's message.
        var description = ""
        do {
            _ = try command.parseAsRoot(["--experimental-dump-help"])
        } catch {
            description = command.fullMessage(for: error)
        }
        let tool: ToolDescription
        do {
            tool = try JSONDecoder().decode(ToolDescription.self, from: Data(description.utf8))
        } catch {
            throw ConfigurationError(
                "cannot read ArgumentParser's description of \(command._commandName)'s options: \(error)")
        }
        var kinds: [String: Kind] = [:]
        for argument in tool.command.arguments ?? [] {
            let kind: Kind
            switch argument.kind {
            case "option": kind = argument.isRepeating ? .repeatingOption : .option
            case "flag": kind = .flag
            default: continue  // a positional argument has no name
            }
            for name in argument.names ?? [] where name.kind == "long" && !Self.builtInNames.contains(name.name) {
                kinds[name.name] = kind
            }
        }
        self.kinds = kinds
    }

    /// The part of ToolInfoV0 read here.
    private struct ToolDescription: Decodable {
        struct Command: Decodable {
            var arguments: [Argument]?
        }
        struct Argument: Decodable {
            var kind: String
            var isRepeating: Bool
            var names: [Name]?
        }
        struct Name: Decodable {
            var kind: String
            var name: String
        }
        var command: Command
    }

    /// Parses `serve` from one setting's arguments alone, so that a value that is not one of its option's (`port =
    /// "x"`) is reported with the key and the file or variable it came from; `Serve.validate()` steps aside
    /// meanwhile, since its checks relate options to one another and wait for the whole command line. When `serve`
    /// cannot be parsed from no arguments at all (an option became required), this check is left to the whole
    /// command line too.
    func checkAlone(_ arguments: [String], origin: String) throws {
        guard !arguments.isEmpty else { return }
        try ResultsHubCommand.Serve.$checksValuesAlone.withValue(true) {
            guard (try? ResultsHubCommand.Serve.parse([])) != nil else { return }
            do {
                _ = try ResultsHubCommand.Serve.parse(arguments)
            } catch {
                throw ConfigurationError("\(origin): \(ResultsHubCommand.Serve.message(for: error))")
            }
        }
    }
}

/// A TOML configuration file's top-level keys and their values.
struct TOMLDocument {
    var path: String
    var values: [(key: String, value: ServeConfiguration.Setting.Value)]

    init(path: String, text: String) throws {
        self.path = path
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw ConfigurationError(
                "\(path): line \(position.line), column \(position.column): \(error.description) (the file is TOML: key = value on each line)"
            )
        }
        values = table.keys.map { key in (key, Self.value(table[key]!)) }
    }

    private static func value(_ value: any TOMLValueConvertible) -> ServeConfiguration.Setting.Value {
        switch value.type {
        case .string: return .text(value.string!)
        case .int: return .number(String(value.int!))
        case .double: return .number(String(value.double!))
        case .bool: return .boolean(value.bool!)
        case .table: return .unsupported(typeName: "a table")
        case .array: return .unsupported(typeName: "an array")
        case .date, .time, .dateTime: return .unsupported(typeName: "a date or time")
        }
    }
}

/// A mistake in the configuration file or the environment, as one sentence.
struct ConfigurationError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
