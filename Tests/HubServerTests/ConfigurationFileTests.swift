import ArgumentParser
import Foundation
import Testing

@testable import results_hub

/// `results-hub [serve] --config FILE` and `RESULTS_HUB_<KEY>` (issue 13): the file's keys and the environment's
/// values become arguments before the command line's, and `serve` is parsed from them all.
@Suite("Configuration file and environment")
struct ConfigurationFileTests {
    typealias Serve = ResultsHubCommand.Serve

    /// The arguments for `commandLine` with these files (path → TOML text) and environment.
    static func arguments(
        _ commandLine: [String], files: [String: String] = [:], environment: [String: String] = [:]
    ) throws -> [String] {
        let configuration = ServeConfiguration(
            options: try ServeOptions(), otherSubcommands: ["desks", "dev-cert", "help"])
        return try configuration.arguments(commandLine: commandLine, environment: environment) { path in
            guard let text = files[path] else { throw ConfigurationError("no file \(path) in this test") }
            return text
        }
    }

    /// `serve` as ArgumentParser parses it from those arguments.
    static func serve(
        _ commandLine: [String], files: [String: String] = [:], environment: [String: String] = [:]
    ) throws -> Serve {
        let parsed = try ResultsHubCommand.parseAsRoot(
            arguments(commandLine, files: files, environment: environment))
        guard let serve = parsed as? Serve else { throw TestFailure("parsed \(type(of: parsed)), not serve") }
        return serve
    }

    /// The message of the error `body` throws.
    static func error<Result>(_ body: () throws -> Result) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func theKeysAreServesLongOptionNamesReadFromArgumentParser() throws {
        let kinds = try ServeOptions().kinds
        for option in [
            "host", "port", "data", "election", "desks", "subscribers", "log-level", "log-format", "stall-timeout",
            "retained-events", "retained-revisions", "tls-cert", "tls-key", "tls-client-ca", "config",
        ] {
            #expect(kinds[option] == .option, "\(option)")
        }
        #expect(kinds["repair-journal"] == .flag)
        // ArgumentParser's own flags are not settings.
        #expect(kinds["help"] == nil && kinds["version"] == nil)
    }

    /// The mechanism relies on this: for an option with one value, the last occurrence wins.
    @Test func argumentParserKeepsTheLastValueOfAnOptionGivenTwice() throws {
        let serve = try Serve.parse(["--port=1", "--host=a", "--port", "2", "--host=b"])
        #expect(serve.port == 2 && serve.host == "b")
    }

    @Test func theFileSetsOptionsAndTheCommandLineWinsOverTheEnvironmentWhichWinsOverTheFile() throws {
        let file = """
            port = 7411
            host = "0.0.0.0"
            data = "./file-data"
            tls-cert = "file-cert.pem"
            tls-key = "file-key.pem"
            stall-timeout = 12
            log-format = "json"
            """
        let files = ["hub.toml": file]
        let fromFile = try Self.serve(["--config", "hub.toml"], files: files)
        #expect(fromFile.port == 7411 && fromFile.host == "0.0.0.0" && fromFile.dataDirectory == "./file-data")
        #expect(fromFile.tlsCert == "file-cert.pem" && fromFile.tlsKey == "file-key.pem")
        #expect(fromFile.stallTimeout == 12 && fromFile.logFormat == .json && fromFile.config == "hub.toml")

        let environment = ["RESULTS_HUB_PORT": "7422", "RESULTS_HUB_TLS_KEY": "secret-key.pem"]
        let fromEnvironment = try Self.serve(["serve", "--config=hub.toml"], files: files, environment: environment)
        #expect(fromEnvironment.port == 7422 && fromEnvironment.tlsKey == "secret-key.pem")
        #expect(fromEnvironment.host == "0.0.0.0" && fromEnvironment.tlsCert == "file-cert.pem")

        let fromCommandLine = try Self.serve(
            ["--config", "hub.toml", "--port", "0", "--tls-key", "flag-key.pem"], files: files,
            environment: environment)
        #expect(fromCommandLine.port == 0 && fromCommandLine.tlsKey == "flag-key.pem")
        #expect(fromCommandLine.dataDirectory == "./file-data")

        // The environment alone, without a file; and the file named by RESULTS_HUB_CONFIG.
        #expect(try Self.serve([], environment: ["RESULTS_HUB_DATA": "/srv/hub"]).dataDirectory == "/srv/hub")
        #expect(try Self.serve([], files: files, environment: ["RESULTS_HUB_CONFIG": "hub.toml"]).port == 7411)
        // An empty variable counts as unset.
        #expect(
            try Self.serve(["--config", "hub.toml"], files: files, environment: ["RESULTS_HUB_PORT": ""]).port == 7411)
    }

    @Test func aFlagIsSetByTrueAndFalseAndTheCommandLineStillWins() throws {
        let on = ["on.toml": "repair-journal = true"]
        let off = ["off.toml": "repair-journal = false"]
        #expect(try Self.arguments(["--config", "on.toml"], files: on) == ["--repair-journal", "--config", "on.toml"])
        #expect(try Self.serve(["--config", "on.toml"], files: on).repairJournal)
        #expect(try !Self.serve(["--config", "off.toml"], files: off).repairJournal)
        #expect(try Self.serve(["--config", "off.toml", "--repair-journal"], files: off).repairJournal)
        // The environment wins over the file either way.
        #expect(
            try !Self.serve(
                ["--config", "on.toml"], files: on, environment: ["RESULTS_HUB_REPAIR_JOURNAL": "false"]
            ).repairJournal)
        #expect(
            try Self.serve(
                ["--config", "off.toml"], files: off, environment: ["RESULTS_HUB_REPAIR_JOURNAL": "TRUE"]
            ).repairJournal)
        #expect(
            Self.error { try Self.serve([], environment: ["RESULTS_HUB_REPAIR_JOURNAL": "yes"]) }
                == "RESULTS_HUB_REPAIR_JOURNAL is a flag: set it to true or false, not \"yes\"")
        #expect(
            Self.error { try Self.serve(["--config", "f.toml"], files: ["f.toml": "repair-journal = 1"]) }
                == "f.toml: \"repair-journal\" is a flag: set it to true or false, not 1")
    }

    @Test func anUnknownKeyNamesTheFileAndTheKeyAndListsTheKeys() throws {
        let message = Self.error { try Self.serve(["--config", "hub.toml"], files: ["hub.toml": "prot = 7400"]) }
        #expect(message.hasPrefix("hub.toml: unknown key \"prot\"; the keys are the options of results-hub serve: "))
        #expect(message.contains("port, rehearsal, repair-journal") && message.contains("tls-cert"))
        #expect(!message.contains("help") && !message.contains(" config,"))
        // A section is a table, so an unknown key too.
        #expect(
            Self.error { try Self.serve(["--config", "hub.toml"], files: ["hub.toml": "[serve]\nport = 1"]) }
                .hasPrefix("hub.toml: unknown key \"serve\""))
        // The file cannot name another file.
        #expect(
            Self.error { try Self.serve(["--config", "hub.toml"], files: ["hub.toml": "config = \"other.toml\""]) }
                == "hub.toml: \"config\" cannot be set in a configuration file; give --config FILE or RESULTS_HUB_CONFIG"
        )
        // Variables of no option are not read: reporter's share the prefix.
        #expect(try Self.serve([], environment: ["RESULTS_HUB_TOKEN": "x", "RESULTS_HUB_PROT": "1"]).port == 7400)
    }

    @Test func aValueOfTheWrongTypeNamesItsKey() throws {
        func error(_ file: String) -> String {
            Self.error { try Self.serve(["--config", "hub.toml"], files: ["hub.toml": file]) }
        }
        #expect(error("port = \"x\"").hasPrefix("hub.toml: \"port\": The value 'x' is invalid for '--port <port>'"))
        #expect(
            error("port = { number = 1 }")
                == "hub.toml: \"port\" must be one value (a string, a number or true/false), not a table")
        #expect(error("host = [\"a\", \"b\"]").hasPrefix("hub.toml: \"host\" must be one value"))
        #expect(error("log-format = \"xml\"").hasPrefix("hub.toml: \"log-format\": The value 'xml' is invalid"))
        #expect(
            Self.error { try Self.serve([], environment: ["RESULTS_HUB_STALL_TIMEOUT": "soon"]) }
                .hasPrefix("RESULTS_HUB_STALL_TIMEOUT: The value 'soon' is invalid for '--stall-timeout"))
        // Not TOML: the line and column.
        #expect(error("port = ").hasPrefix("hub.toml: line 1, column "))
        // Checks across options still apply, to the whole: a certificate from the file, its key from nowhere.
        #expect(throws: (any Error).self) {
            try Self.serve(["--config", "hub.toml"], files: ["hub.toml": "tls-cert = \"c.pem\""])
        }
        #expect(
            try Self.serve(["--config", "hub.toml", "--tls-key", "k.pem"], files: ["hub.toml": "tls-cert = \"c.pem\""])
                .tls != nil)
    }

    @Test func valuesAreNeverTakenForOptions() throws {
        let serve = try Self.serve(
            ["--config", "hub.toml"], files: ["hub.toml": "data = \"--port=1 dir\"\nelection = \"-e\""])
        #expect(serve.dataDirectory == "--port=1 dir" && serve.election == "-e" && serve.port == 7400)
    }

    @Test func otherSubcommandsAndRequestsForHelpOrTheVersionAreLeftAlone() throws {
        let environment = ["RESULTS_HUB_PORT": "1", "RESULTS_HUB_DATA": "/srv/hub"]
        for commandLine in [
            ["desks", "list", "--data", "d"], ["dev-cert", "dir"], ["help"], ["--help"], ["serve", "-h"],
            ["--version"], ["--port", "0", "--version"],
        ] {
            #expect(try Self.arguments(commandLine, environment: environment) == commandLine)
        }
        #expect(
            try Self.arguments(["--port", "0"], environment: environment) == [
                "--data=/srv/hub", "--port=1", "--port", "0",
            ])
        #expect(
            try Self.arguments(["serve", "--port", "0"], environment: environment)
                == ["serve", "--data=/srv/hub", "--port=1", "--port", "0"])
        #expect(try Self.arguments(["--port", "0"]) == ["--port", "0"])
        // The desks subcommands parse as before with the variables set.
        let parsed = try ResultsHubCommand.parseAsRoot(
            Self.arguments(["desks", "list", "--data", "d"], environment: environment))
        #expect(parsed is ResultsHubCommand.Desks.List)
    }

    /// A real hub: its data directory and log format from the file, its port from the command line (the file's
    /// 7400 is never bound), and its log level from the environment.
    @Test func aHubServesPerItsConfigurationFile() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/from-the-file"
        let file = directory + "/hub.toml"
        try """
        # results-hub --config hub.toml
        port = 7400
        admin-port = 0
        data = "\(data)"
        log-format = "json"
        repair-journal = false
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let hub = try await HubProcess.start(
            allArguments: ["--config", file, "--port", "0"], environment: ["RESULTS_HUB_LOG_LEVEL": "debug"],
            asOrdinaryUser: true)
        #expect(hub.port != 7400)
        let scoreboard = try await CommandRun.run(
            Executables.reporter, ["scoreboard", "--hub", "127.0.0.1:\(hub.port)"])
        #expect(scoreboard.status == 0, "\(scoreboard.errors)")
        hub.terminate()
        #expect(FileManager.default.fileExists(atPath: data + "/journal.rhj"))
        #expect(FileManager.default.fileExists(atPath: data + "/desks.json"))
        let lines = hub.standardError.split(separator: "\n")
        #expect(!lines.isEmpty)
        let levels = try lines.map { line in
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return record?["level"] as? String
        }
        #expect(levels.contains("debug"), "the environment's log level: \(lines)")
    }

    @Test func aMistakeInTheFileStopsTheHubWithOneSentence() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-config-mistake")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/hub.toml"
        try "prot = 7400\n".write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await CommandRun.run(Executables.resultsHub, ["--config", file, "--port", "0"])
        #expect(run.status == ExitCode.validationFailure.rawValue)
        #expect(run.errors.hasPrefix("results-hub: \(file): unknown key \"prot\"; the keys are"))
        #expect(run.errors.split(separator: "\n").count == 1)
        let missing = try await CommandRun.run(Executables.resultsHub, ["--config", directory + "/none.toml"])
        #expect(
            missing.errors == "results-hub: cannot read the configuration file \(directory)/none.toml; check --config\n"
        )
    }
}
