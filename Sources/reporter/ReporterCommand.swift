import ArgumentParser

@main
struct ReporterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reporter", abstract: "Submit and watch results.")
}
