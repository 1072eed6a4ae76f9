import ArgumentParser
import HubLoad

@main
struct HubLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hub-load", abstract: "Load-tests a ResultsHub hub.")
}
