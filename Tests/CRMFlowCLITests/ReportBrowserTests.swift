import Foundation
import Testing

/// The report as a browser draws it: headless Chromium lays the page out and `scripts/check-report.py` measures it
/// (text boxes, bands, periods, contrast), screenshots the whole page and prints it to PDF. Skipped without Chromium,
/// unless CRMFLOW_REQUIRE_BROWSER=1 (CI), where a missing browser fails.
enum Browser {
    static var path: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser", "google-chrome"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                return "\(dir)/\(name)"
            }
        }
        return nil
    }

    static var required: Bool { ProcessInfo.processInfo.environment["CRMFLOW_REQUIRE_BROWSER"] == "1" }

    /// True when the test should go on; records a failure when the browser is required and missing.
    static func available() -> Bool {
        if path != nil { return true }
        if required { Issue.record("CRMFLOW_REQUIRE_BROWSER=1 but no Chromium is on the PATH") }
        return false
    }

    static func check(_ html: String, _ extra: [String] = []) throws -> (status: Int32, out: String) {
        try CLI.tool("/usr/bin/env", ["python3", CLI.packageRoot.appendingPathComponent("scripts/check-report.py").path, html] + extra)
    }
}

@Suite(.serialized) struct ReportBrowserTests {
    @Test func theNightlyReportPassesEveryBrowserCheckAndRendersWhole() throws {
        guard Browser.available() else { return }
        let out = CLI.scratch("browser-report")
        let run = try CLI.run(["run", "pipelines/nightly.yaml", "--as-of", "2024-12-31", "--out", out, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let png = out + "/report.png", pdf = out + "/report-print.pdf"
        let checked = try Browser.check(out + "/report.html", ["--png", png, "--pdf", pdf])
        #expect(checked.status == 0, "\(checked.out)")
        #expect(checked.out.contains("report checks passed"))
        // Every period chart has all its periods: the four of the nightly report.
        for chart in ["Won revenue by month (USD): 9/9 months", "Revenue forecast (USD): 12/12 months",
                      "Won revenue by owner and month (USD): 9/9 months", "Customer satisfaction by quarter: 4/4 quarters"] {
            #expect(checked.out.contains(chart), "\(checked.out)")
        }
        // The screenshot is the whole page, far taller than the 2,600 px window it used to be cut at.
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        let height = data[20..<24].reduce(0) { $0 << 8 | Int($1) }
        #expect(height > 6000, "page height \(height)")
        let printed = try Data(contentsOf: URL(fileURLWithPath: pdf))
        #expect(printed.starts(with: Array("%PDF".utf8)))
    }

    /// The checks fail on the defects they are for: a page with overlapping axis labels, a band below zero, a missing
    /// month and white text on a light bar is refused, each problem named.
    @Test func theBrowserChecksCatchOverlapNegativeBandsMissingMonthsAndLowContrast() throws {
        guard Browser.available() else { return }
        let page = """
        <!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
        <section><h2>Revenue</h2>
        <svg class="chart" viewBox="0 0 640 280" data-period="month" data-first="2025-01-01" data-periods="4">
        <text x="60" y="230" text-anchor="end" font-size="11" fill="#5f6b7a">-$50k</text>
        <text x="60" y="180" text-anchor="end" font-size="11" fill="#5f6b7a">$0</text>
        <text class="x-label" x="100" y="250" text-anchor="middle" font-size="11" fill="#5f6b7a">2025-01-012025</text>
        <text class="x-label" x="130" y="250" text-anchor="middle" font-size="11" fill="#5f6b7a">2025-02-01</text>
        <polygon points="100,100 300,100 300,220 100,220" fill="#1f77b4" fill-opacity="0.15"><title>prediction interval</title></polygon>
        <circle cx="100" cy="150" r="3" data-x="2025-01-01"/><circle cx="200" cy="150" r="3" data-x="2025-02-01"/>
        <circle cx="300" cy="150" r="3" data-x="2025-04-01"/>
        </svg></section>
        <section><h2>Funnel</h2>
        <svg class="chart" viewBox="0 0 640 60"><rect x="100" y="10" width="400" height="34" fill="#1f77b4" fill-opacity="0.4"/>
        <text x="300" y="32" text-anchor="middle" font-size="12" fill="#ffffff">18 · 85.7%</text></svg></section>
        </body></html>
        """
        let checked = try Browser.check(CLI.write(page, "bad-report.html"))
        #expect(checked.status == 1, "\(checked.out)")
        for problem in ["'2025-01-012025' and '2025-02-01' overlap", "the axis shows a negative value (-$50k) for a band",
                        "the prediction band reaches below zero", "no point for 2025-03-01", "'18 · 85.7%' has contrast"] {
            #expect(checked.out.contains(problem), "missing: \(problem)\n\(checked.out)")
        }
    }

    @Test func thePDFFormatPrintsTheReportAndAMissingBrowserIsAClearError() throws {
        let dir = CLI.scratch("pdf")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pipeline = CLI.write("""
        pipeline: pdf-report
        stages:
          deals:
            ingest: { path: \(CLI.packageRoot.path)/sample-data/salesforce/opportunities.csv }
          by_stage:
            aggregate: { input: deals, group_by: [Stage], aggregates: { deals: count(*) } }
          report:
            report: { inputs: [by_stage], format: [html, pdf], title: Deals by stage }
        """, "pdf.yaml")
        let missing = try CLI.run(["run", pipeline, "--out", dir + "/none", "--quiet"], environment: ["CRMFLOW_CHROMIUM": "/nonexistent/chromium"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("cannot start /nonexistent/chromium"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/none/report.pdf"))
        guard Browser.available() else { return }
        let run = try CLI.run(["run", pipeline, "--out", dir + "/out", "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let pdf = try Data(contentsOf: URL(fileURLWithPath: dir + "/out/report.pdf"))
        #expect(pdf.starts(with: Array("%PDF".utf8)))
        #expect(pdf.count > 5000)
        // Nothing but the outputs is left behind: no temporary file beside the PDF.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/out").filter { $0.contains(".tmp-") }
        #expect(left.isEmpty)
    }
}
