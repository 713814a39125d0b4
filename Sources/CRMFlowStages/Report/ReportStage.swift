import CRMFlowCore
import CRMFlowIO
import Foundation

/// `report`: one document from its inputs' sections, as self-contained HTML, Markdown and per-section CSV / JSON.
public struct ReportStage: Stage {
    public static let spec = StageSpec(
        kind: "report",
        summary: "Assemble one report from its inputs, a section each: KPI tiles (from a kpi stage), a funnel chart (from a funnel stage), line charts (a date column and numbers), bar charts (a text column and numbers) or tables. Writes self-contained HTML (inline SVG charts, no scripts or external files, table of contents, printable, readable on a phone), Markdown (charts as tables) and each section's table as CSV and JSON (exact values). Numbers in the documents are formatted for people.",
        minInputs: 1, maxInputs: Int.max,
        options: [
            OptionSpec("inputs", .list, required: true, isInput: true, "The stages shown, in order; each becomes a section."),
            OptionSpec("path", .scalar, default: "report", isOutputPath: true, "Base name under the output directory: `report.html`, `report.md`, and `report/<section>.csv|json`."),
            OptionSpec("title", .scalar, default: "Sales report", "The document title."),
            OptionSpec("format", .scalarOrList, default: "[html, md]", "Any of html, md, csv, json, xlsx (`report.xlsx`: a contents sheet, then one sheet per section with typed cells and a frozen header), pdf (`report.pdf`: the HTML page printed by headless Chromium, for mailing; needs `chromium` on the PATH or CRMFLOW_CHROMIUM naming the browser)."),
            OptionSpec("sections", .mapping, "Per input: `{ title: …, chart: kpi|funnel|line|bar|table, x: column, y: column, series: column, note: …, formats: { money: [columns], count: […], percent: […], number: […] } }` (by default the chart is chosen from the columns, and each number's format from its column's name and type: see the README's Reports section)."),
            OptionSpec("currency", .scalar, "The currency of money columns that do not name one (e.g. `USD`: `$57,201`); a column named `…_eur` or holding money values keeps its own."),
        ],
        example: """
        report:
          report:
            inputs: [kpis, funnel, revenue_by_month, stage_counts]
            title: Weekly sales report
            format: [html, md, csv]
            sections:
              revenue_by_month: { title: Revenue by month, chart: line, x: close_month, y: revenue_usd, series: owner }
        """)

    struct SectionConfig: Sendable {
        var title: String?
        var chart: String?
        var x: String?
        var y: String?
        var series: String?
        var note: String?
        var formats: [String: Measure] = [:]
    }

    let inputNames: [String]
    let currency: String
    let path: String
    let title: String
    let formats: [String]
    let sections: [String: SectionConfig]

    public init?(_ config: StageConfig) {
        inputNames = config.strings("inputs") ?? []
        path = config.string("path") ?? "report"
        title = config.string("title") ?? "Sales report"
        currency = (config.string("currency") ?? "").uppercased()
        var ok = true
        let formats = config.strings("format") ?? ["html", "md"]
        for f in formats where !["html", "md", "csv", "json", "xlsx", "pdf"].contains(f) {
            config.log.add(.invalidValue, "'\(f)' is not a report format", at: config.node("format")?.location, hint: "use any of: html, md, csv, json, xlsx, pdf")
            ok = false
        }
        self.formats = formats
        var sections: [String: SectionConfig] = [:]
        for e in config.mapping("sections") ?? [] {
            guard let body = e.value.entries else {
                config.log.add(.optionShape, "section '\(e.key)' must be a mapping", at: e.value.location)
                ok = false
                continue
            }
            if !inputNames.contains(e.key) {
                config.log.add(.unknownInput, "section '\(e.key)' is not one of the report's inputs", at: e.keyLocation, length: e.key.count,
                               hint: Suggest.nearest(e.key, among: inputNames).map { "did you mean '\($0)'?" } ?? "inputs: " + inputNames.joined(separator: ", "))
                ok = false
            }
            var s = SectionConfig()
            for x in body {
                let v = x.value.scalar
                switch x.key {
                case "title": s.title = v
                case "chart":
                    guard let v, ["kpi", "funnel", "line", "bar", "table"].contains(v) else {
                        config.log.add(.invalidValue, "chart must be kpi, funnel, line, bar or table", at: x.value.textLocation)
                        ok = false
                        continue
                    }
                    s.chart = v
                case "x": s.x = v
                case "y": s.y = v
                case "series": s.series = v
                case "note": s.note = v
                case "formats":
                    for f in x.value.entries ?? [] {
                        guard let m = Measure(written: f.key) else {
                            config.log.add(.invalidValue, "'\(f.key)' is not a number format", at: f.keyLocation, length: f.key.count, hint: "use money, count, percent or number")
                            ok = false
                            continue
                        }
                        for c in config.strings(of: f.value, name: "formats.\(f.key)") ?? [] { s.formats[c] = m }
                    }
                    if x.value.entries == nil { config.log.add(.optionShape, "formats must be a mapping of a format to its columns", at: x.value.location); ok = false }
                default:
                    config.log.add(.unknownOption, "unknown option '\(x.key)' of section '\(e.key)'", at: x.keyLocation, length: x.key.count,
                                   hint: "options: title, chart, x, y, series, note, formats")
                    ok = false
                }
            }
            sections[e.key] = s
        }
        self.sections = sections
        if !ok { return nil }
    }

    public func outputSchema(_ inputs: [KnownSchema], _ check: SchemaCheck) -> KnownSchema {
        for (name, schema) in zip(inputNames, inputs) {
            guard let schema, let s = sections[name] else { continue }
            let named = [s.x, s.y, s.series].compactMap { $0 }.map { ($0, Optional<SourceLocation>.none) }
            check.checkColumns(named, in: schema, option: "section \(name)")
        }
        return ExprSchema(names: ["section", "title", "kind", "rows"], types: [.string, .string, .string, .integer])
    }

    // MARK: - Sections

    /// One section of the report: its table and how it is drawn.
    struct Section {
        var id: String
        var title: String
        var kind: String
        var table: Table
        var x: String?
        var y: String?
        var series: String?
        var note: String?
        var formats = Formats()
    }

    static func isNumeric(_ t: DataType) -> Bool { t == .integer || t == .double || t == .money }

    /// The chart for a table: from the section's settings, else from its columns.
    func section(_ id: String, _ table: Table) -> Section {
        let c = sections[id] ?? SectionConfig()
        let names = Set(table.schema.names)
        let fields = table.schema.fields
        var kind = c.chart
        if kind == nil {
            if names.isSuperset(of: ["kpi", "period", "value", "status"]) { kind = "kpi" }
            else if names.isSuperset(of: ["stage", "deals", "conversion"]) { kind = "funnel" }
            else if fields.contains(where: { $0.type == .date || $0.type == .timestamp }), fields.contains(where: { Self.isNumeric($0.type) }), table.rowCount > 1 { kind = "line" }
            else if fields.contains(where: { $0.type == .string }), fields.contains(where: { Self.isNumeric($0.type) }), table.rowCount > 1, table.rowCount <= 40 { kind = "bar" }
            else { kind = "table" }
        }
        let firstDate = fields.first { $0.type == .date || $0.type == .timestamp }?.name
        let firstText = fields.first { $0.type == .string }?.name
        // The measure: the last numeric column that is not an order or a count of rows, else the last numeric one.
        let numeric = fields.filter { Self.isNumeric($0.type) }.map(\.name)
        let measure = numeric.last { !$0.hasSuffix("_order") && $0 != "deals" && $0 != "records" } ?? numeric.last
        var s = Section(id: id, title: c.title ?? Self.titleCase(id), kind: kind!, table: table, x: c.x, y: c.y ?? measure, series: c.series, note: c.note,
                        formats: Formats(byColumn: c.formats, currency: currency))
        // A trend's moving average and fitted line are in the unit of the value they follow.
        if let y = s.y, let yType = table.column(named: y)?.type {
            for extra in ["moving_avg", "trend"] where table.column(named: extra) != nil && s.formats.byColumn[extra] == nil {
                s.formats.byColumn[extra] = s.formats.measure(y, yType)
            }
        }
        switch s.kind {
        case "line":
            s.x = c.x ?? firstDate
            if c.series == nil, let t = firstText, let col = table.column(named: t),
               Set((0..<col.count).map { col.value(at: $0).description }).count <= 8 { s.series = t }
        case "bar":
            s.x = c.x ?? firstText
        default: break
        }
        return s
    }

    static func titleCase(_ id: String) -> String {
        let words = id.split(separator: "_").map(String.init)
        guard let first = words.first else { return id }
        return ([first.prefix(1).uppercased() + first.dropFirst()] + words.dropFirst()).joined(separator: " ")
    }

    /// A cell for people, by the kind of measure its column holds (see `Measure`); null as –.
    static func display(_ column: Column, _ row: Int, name: String, formats: Formats = Formats()) -> String {
        formats.measure(name, column.type).format(column.value(at: row))
    }

    /// The current period's row of each KPI (the last period up to the as-of date).
    static func currentKPIs(_ t: Table, asOf: Int32) -> [Int] {
        guard let kpi = t.column(named: "kpi"), let period = t.column(named: "period") else { return [] }
        var latest: [String: Int] = [:]
        var order: [String] = []
        for r in 0..<t.rowCount {
            let k = kpi.value(at: r).description
            if latest[k] == nil { order.append(k) }
            if case .date(let d) = period.value(at: r), d > asOf { continue }
            latest[k] = r
        }
        return order.compactMap { latest[$0] }
    }

    // MARK: - Running

    public func run(_ inputs: [StageData], _ context: RunContext) throws(StageFailure) -> StageResult {
        let built = zip(inputNames, inputs).map { section($0, $1.table) }
        let base = try context.outputPath(path)
        var outputs: [String] = []
        do {
            try FileManager.default.createDirectory(atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if formats.contains("csv") || formats.contains("json") {
                try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            }
        } catch {
            throw StageFailure("cannot create the output directory for '\(base)'", hint: "check that its parent exists and is writable, or choose another with --out DIR", status: .cannotWrite)
        }
        do {
            if formats.contains("html") {
                let out = try AtomicOutput(path: base + ".html", inputs: context.protectedPaths)
                try out.write(ReportHTML.render(title: title, sections: built, asOf: context.environment.asOf))
                try out.commit()
                outputs.append(base + ".html")
            }
            if formats.contains("md") {
                let out = try AtomicOutput(path: base + ".md", inputs: context.protectedPaths)
                try out.write(markdown(built, asOf: context.environment.asOf))
                try out.commit()
                outputs.append(base + ".md")
            }
            if formats.contains("xlsx") {
                // A contents sheet first (section, title, rows), then a sheet per section named by its title.
                let contents = Table(names: ["section", "title", "rows", "note"], types: [.string, .string, .integer, .string],
                                     rows: built.map { [.string($0.id), .string($0.title), .integer(Int64($0.table.rowCount)), $0.note.map { .string($0) } ?? .null] })
                try XLSXWriter.write([("Contents", contents)] + built.map { ($0.title, $0.table) }, to: base + ".xlsx", inputs: context.protectedPaths)
                outputs.append(base + ".xlsx")
            }
            for s in built {
                for f in ["csv", "json"] where formats.contains(f) {
                    let file = (base as NSString).appendingPathComponent("\(s.id).\(f)")
                    try TableFileWriter.write(s.table, to: file, format: f == "csv" ? .csv : .json, inputs: context.protectedPaths)
                    outputs.append(file)
                }
            }
        } catch {
            throw StageFailure(error)
        }
        if formats.contains("pdf") {
            try PDFPrinter.print(html: ReportHTML.render(title: title, sections: built, asOf: context.environment.asOf), to: base + ".pdf",
                                 inputs: context.protectedPaths, isCancelled: context.isCancelled)
            outputs.append(base + ".pdf")
        }
        let index = Table(names: ["section", "title", "kind", "rows"], types: [.string, .string, .string, .integer],
                          rows: built.map { [.string($0.id), .string($0.title), .string($0.kind), .integer(Int64($0.table.rowCount))] })
        let n = inputs.reduce(0) { $0 + $1.table.rowCount }
        context.progress(n)
        return StageResult(data: StageData(table: index), accounting: Accounting(rowsIn: n, rowsOut: built.count, removed: ["reported": n], added: ["section": built.count]),
                           outputs: outputs)
    }

    // MARK: - Markdown

    func markdown(_ sections: [Section], asOf: Int32) -> String {
        var s = "# \(title)\n\nAs of \(Value.date(asOf).description).\n\n"
        s += sections.map { "- [\($0.title)](#\(Self.anchor($0.title)))" }.joined(separator: "\n") + "\n"
        for sec in sections {
            s += "\n## \(sec.title)\n\n"
            if let note = sec.note { s += note + "\n\n" }
            let table = Self.shown(sec, asOf: asOf)
            if sec.kind == "kpi" { s += "Current period of each KPI (status: on track, at risk or off track against its target).\n\n" }
            if sec.kind == "funnel", let summary = Self.funnelSummary(sec.table, formats: sec.formats) { s += summary + "\n\n" }
            if let summary = Self.trendSummary(sec) { s += summary + "\n\n" }
            s += Self.markdownTable(table, formats: sec.formats)
        }
        return s
    }

    /// The anchor of a heading as GitHub writes it: lower case, punctuation dropped, spaces as hyphens.
    static func anchor(_ title: String) -> String {
        String(title.lowercased().compactMap { c -> Character? in
            if c.isLetter || c.isNumber || c == "-" || c == "_" { return c }
            return c == " " ? "-" : nil
        })
    }

    /// What a section shows in the documents (its CSV and JSON keep every column).
    static func shown(_ sec: Section, asOf: Int32) -> Table {
        var t = sec.table
        if sec.kind == "kpi" {
            t = t.selecting(currentKPIs(t, asOf: asOf))
            let keep = ["kpi", "period", "value", "target", "attainment", "status", "change", "yoy_change"]
            t = t.selectingColumns(keep.filter { t.schema.index(of: $0) != nil })
        } else if sec.kind == "funnel" {
            let keep = (t.schema.names.prefix { !["stage"].contains($0) }) + ["stage", "deals", "deals_strict", "conversion", "overall_conversion", "drop_off", "median_days", "bottleneck"]
            t = t.selectingColumns(keep.filter { t.schema.index(of: $0) != nil })
        }
        return t
    }

    /// The funnel's headline numbers, with the win rate's definition.
    static func funnelSummary(_ t: Table, formats: Formats = Formats()) -> String? {
        guard t.rowCount > 0, let w = t.column(named: "win_rate") else { return nil }
        func display(_ c: Column, _ r: Int, name: String) -> String { ReportStage.display(c, r, name: name, formats: formats) }
        var parts = ["Win rate = won ÷ (won + lost) = " + display(w, 0, name: "win_rate")]
        if let won = t.column(named: "won"), let lost = t.column(named: "lost") { parts[0] += " (\(display(won, 0, name: "won")) won, \(display(lost, 0, name: "lost")) lost)" }
        if let c = t.column(named: "median_cycle_days"), !c.isNull(0) { parts.append("median sales cycle " + display(c, 0, name: "median_cycle_days") + " days") }
        if let a = t.column(named: "avg_deal_size"), !a.isNull(0) { parts.append("average won deal " + display(a, 0, name: "avg_deal_size")) }
        if let v = t.column(named: "velocity_per_day"), !v.isNull(0) { parts.append("sales velocity " + display(v, 0, name: "velocity_per_day") + " per day (open pipeline × win rate ÷ cycle length)") }
        return parts.joined(separator: "; ") + ". Counting: any-stage (a deal counts at every stage up to the furthest it reached); deals_strict requires every earlier stage in order."
    }

    /// A trend stage's headline: the slope and its significance, and the anomalies.
    static func trendSummary(_ sec: Section) -> String? {
        let t = sec.table
        guard let y = sec.y, t.column(named: "trend") != nil, let z = t.column(named: "anomaly"), let xs = sec.x.flatMap({ t.column(named: $0) }) else { return nil }
        let values = ReportHTML.values(t, y).compactMap { $0 }
        let fit = TrendStage.linearTrend(values)
        let measure = sec.formats.measure(y, t.column(named: y)?.type ?? .double)
        var s = "Trend: \(fit.slope >= 0 ? "+" : "")\(measure.format(fit.slope)) per period over \(values.count) periods"
        if let p = fit.p { s += String(format: " (p = %.3f, ", p) + (p < 0.05 ? "significant" : "not significant") + " at 5%)" }
        let flagged = (0..<t.rowCount).filter { z.value(at: $0) == .boolean(true) }.map { xs.value(at: $0).description }
        s += flagged.isEmpty ? "; no anomalies." : "; anomalies: " + flagged.joined(separator: ", ") + "."
        return s
    }

    /// Value columns of a KPI table take the KPI's name, so rates show as percentages.
    static func displayName(_ t: Table, column: String, row: Int) -> String {
        if ["value", "target", "previous", "year_ago"].contains(column), let k = t.column(named: "kpi") { return k.value(at: row).description }
        return column
    }

    static func markdownTable(_ t: Table, limit: Int = 50, formats: Formats = Formats()) -> String {
        guard t.rowCount > 0 else { return "_No rows._\n" }
        let names = t.schema.names
        var s = "| " + names.joined(separator: " | ") + " |\n"
        s += "|" + t.schema.fields.map { isNumeric($0.type) ? "---:" : "---" }.joined(separator: "|") + "|\n"
        for r in 0..<min(t.rowCount, limit) {
            s += "| " + names.indices.map { c in
                display(t.columns[c], r, name: displayName(t, column: names[c], row: r), formats: formats).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
            }.joined(separator: " | ") + " |\n"
        }
        if t.rowCount > limit { s += "\n_\(t.rowCount - limit) more rows in the section's CSV._\n" }
        return s
    }
}

extension Table {
    /// The named columns, in that order (names not in the table are skipped).
    func selectingColumns(_ names: [String]) -> Table {
        let idx = names.compactMap { schema.index(of: $0) }
        return Table(schema: Schema(idx.map { schema.fields[$0] }), columns: idx.map { columns[$0] }, rowCount: rowCount)
    }
}
