import CRMFlowCore
import CRMFlowIO
import Foundation

/// Prints a self-contained HTML page to PDF with headless Chromium (`--print-to-pdf`), written like every output:
/// to a temporary file first, then renamed into place.
enum PDFPrinter {
    /// The browser: CRMFLOW_CHROMIUM, else the first of chromium, chromium-browser, google-chrome on the PATH.
    static func browser() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let named = env["CRMFLOW_CHROMIUM"], !named.isEmpty { return named }
        for dir in (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser", "google-chrome"] {
                let path = "\(dir)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }

    static func print(html: String, to path: String, inputs: [String], isCancelled: @Sendable () -> Bool) throws(StageFailure) {
        guard let browser = browser() else {
            throw StageFailure("the pdf format needs headless Chromium, and none was found", hint: "install it (Debian: apt-get install chromium) or set CRMFLOW_CHROMIUM to the browser's path; or drop pdf from format", status: .cannotWrite)
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("crmflow-pdf-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            try html.write(toFile: work + "/report.html", atomically: false, encoding: .utf8)
        } catch {
            throw StageFailure("cannot prepare the page to print: \(error.localizedDescription)", status: .cannotWrite)
        }
        let printed = work + "/report.pdf"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: browser)
        var args = ["--headless=new", "--disable-gpu", "--no-pdf-header-footer", "--user-data-dir=\(work)/profile", "--print-to-pdf=\(printed)"]
        // NB: Chromium's sandbox cannot start as root (CI, containers).
        if geteuid() == 0 { args.append("--no-sandbox") }
        process.arguments = args + ["file://\(work)/report.html"]
        let log = Pipe()
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch {
            throw StageFailure("cannot start \(browser): \(error.localizedDescription)", hint: "set CRMFLOW_CHROMIUM to a working Chromium", status: .cannotWrite)
        }
        let started = Date()
        while process.isRunning {
            if isCancelled() || Date().timeIntervalSince(started) > 120 { process.terminate(); break }
            usleep(50_000)
        }
        process.waitUntilExit()
        let text = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0, let pdf = FileManager.default.contents(atPath: printed), pdf.starts(with: "%PDF".utf8) else {
            throw StageFailure("Chromium did not print the report to PDF (exit \(process.terminationStatus))", hint: String(text.suffix(400)), status: .cannotWrite)
        }
        do {
            let out = try AtomicOutput(path: path, inputs: inputs)
            try out.write([UInt8](pdf))
            try out.commit()
        } catch {
            throw StageFailure(error)
        }
    }
}
