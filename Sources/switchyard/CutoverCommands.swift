import ArgumentParser
import Foundation

struct GuardCommand: AdminCommand {
    static let word = "guard"
    static let configuration = CommandConfiguration(commandName: "guard",
        abstract: "Guards at run time: guard ROUTE ack | guard ROUTE add NAME KIND new BACKEND old BACKEND [MODE] [OPTION VALUE]... | guard ROUTE remove NAME.")
    @Argument(parsing: .captureForPassthrough, help: "ROUTE ack|add|remove ...") var words: [String] = []
}

struct GuardsCommand: AdminCommand {
    static let word = "guards"
    static let configuration = CommandConfiguration(commandName: "guards", abstract: "Every guard: its state, last figures, trips.")
    @Argument(parsing: .captureForPassthrough) var words: [String] = []
}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan",
        abstract: "Cutover plans: plan load FILE | plan start|approve|pause|resume|abort NAME | plan status [NAME].")
    @Argument(parsing: .captureForPassthrough, help: "load FILE | start|approve|pause|resume|abort NAME | status [NAME]") var words: [String] = []

    func run() throws {
        var words = self.words
        // The proxy reads the file: give it a path that does not depend on our directory.
        if words.count >= 2, words[0] == "load", !words[1].hasPrefix("/") {
            words[1] = FileManager.default.currentDirectoryPath + "/" + words[1]
        }
        try AdminClient.send(["plan"] + words)
    }
}
