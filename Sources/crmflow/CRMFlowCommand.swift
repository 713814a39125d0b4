import ArgumentParser
import CRMFlowCore
import CRMFlowIO
import CLibCSV

#if canImport(Glibc)
import Glibc
#endif

/// Entry point: parses arguments, maps every error to DESIGN §7's exit codes.
@main
struct CRMFlowMain {
    static func main() {
        #if canImport(Glibc)
        // NB: chunk buffers (hundreds of KiB, freed as soon as the next stage has copied them) stay in malloc's heap and
        // are reused instead of being mapped and unmapped per chunk, which cost a page fault per 4 KiB; whole-table
        // columns are larger than the threshold and go straight to mmap.
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        // NB: and freed chunk memory is kept for the next chunk rather than handed back at once (same page faults).
        _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
        #endif
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
        subcommands: [Run.self, Validate.self, Plan.self, Explain.self, Stages.self, SchemaCommand.self, Init.self, TestPipeline.self, History.self, Decide.self, Verify.self, Keygen.self, Decrypt.self, Convert.self, Profile.self, Load.self, Generate.self]
    )
}
