import ArgumentParser
import CRMFlowCore
import CRMFlowIO

#if canImport(Glibc)
import Glibc
#endif

/// Entry point: parses arguments, maps every error to DESIGN §7's exit codes.
@main
struct CRMFlowMain {
    static func main() {
        Allocator.tuneForColumnBuffers()
        do {
            var command = try CRMFlow.parseAsRoot()
            try command.run()
        } catch let error as CRMFlowError {
            FileHandle.standardError.write(error.description + "\n")
            exit(error.status.rawValue)
        } catch let error as TableError {
            FileHandle.standardError.write("error: \(error)\n")
            exit(ExitStatus.badData.rawValue)
        } catch {
            // Help, version, explicit exit codes and usage errors from the argument parser.
            if let code = error as? ExitCode { exit(code.rawValue) }
            let message = CRMFlow.fullMessage(for: error)
            if CRMFlow.exitCode(for: error) == .success {
                FileHandle.standardOutput.write(message + "\n")
                exit(0)
            }
            FileHandle.standardError.write(message + "\n")
            exit(ExitStatus.usage.rawValue)
        }
    }
}

struct CRMFlow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crmflow",
        abstract: "Consolidate and analyse CRM sales data: run declarative pipelines, convert and profile files.",
        version: "0.1.0",
        subcommands: [Run.self, Validate.self, Plan.self, Explain.self, Stages.self, SchemaCommand.self, Init.self, TestPipeline.self, History.self, Decide.self, Verify.self, Keygen.self, Decrypt.self, Convert.self, Profile.self, Load.self, Generate.self, Worker.self]
    )
}
