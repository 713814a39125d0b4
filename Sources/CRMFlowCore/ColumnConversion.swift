/// Converts a text column into a typed column according to a plan.
public enum ColumnConversion {
    /// The result of converting: the column, or the rows whose text did not fit the plan.
    public struct Outcome: Sendable {
        public var column: Column
        /// Rows that could not be converted (they are null in `column`).
        public var failedRows: [Int]

        public init(column: Column, failedRows: [Int]) {
            self.column = column
            self.failedRows = failedRows
        }
    }

    /// Converts `text` (with `validity`, nil = all present) to `plan.type`.
    /// - Complexity: O(total bytes).
    public static func convert(_ text: StringBuffer, validity: Bitmap?, plan: ColumnPlan) -> Outcome {
        let n = text.count
        if plan.type == .string { return Outcome(column: Column(storage: .string(text), validity: validity), failedRows: []) }
        var valid = validity ?? Bitmap(repeating: true, count: n)
        var failed: [Int] = []
        if plan.emptyIsNull {
            // An empty value of a typed column is null (a quoted "" in a CSV file, as DuckDB and pandas read it).
            text.offsets.withUnsafeBufferPointer { o in
                for i in 0..<n where o[i] == o[i + 1] && valid[i] { valid[i] = false }
            }
        }
        let formatBytes = plan.format.map { Array($0.utf8) }
        let storage: ColumnStorage = text.bytes.withUnsafeBufferPointer { all in
            @inline(__always) func cell(_ i: Int) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(rebasing: all[Int(text.offsets[i])..<Int(text.offsets[i + 1])])
            }
            func dateScan(_ i: Int) -> DateScan? {
                let c = plan.isDeclared ? Scalars.trimmed(cell(i)) : cell(i)
                return formatBytes.map { DateParsing.parse(c, format: $0) } ?? DateParsing.scan(c)
            }
            func fail(_ i: Int) {
                failed.append(i)
                valid[i] = false
            }
            switch plan.type {
            case .string:
                return .string(text)
            case .integer:
                var out = [Int64](repeating: 0, count: n)
                for i in 0..<n where valid[i] {
                    let c = cell(i)
                    if let v = (plan.isDeclared ? Scalars.integer(c) : Scalars.strictInteger(c)) { out[i] = v } else { fail(i) }
                }
                return .integer(out)
            case .double:
                var out = [Double](repeating: 0, count: n)
                for i in 0..<n where valid[i] {
                    if let v = Scalars.double(cell(i), strict: !plan.isDeclared) { out[i] = v } else { fail(i) }
                }
                return .double(out)
            case .boolean:
                var out = [Bool](repeating: false, count: n)
                for i in 0..<n where valid[i] {
                    if let v = Scalars.boolean(cell(i), lenient: plan.isDeclared) { out[i] = v } else { fail(i) }
                }
                return .boolean(out)
            case .date:
                var out = [Int32](repeating: 0, count: n)
                let isoFirst = formatBytes == nil || formatBytes! == DateParsing.isoFormat
                for i in 0..<n where valid[i] {
                    // The common `yyyy-mm-dd` directly; every other shape (and an invalid day) through the scanner.
                    if isoFirst, let d = DateParsing.isoDay(cell(i)) { out[i] = Int32(d); continue }
                    if let d = dateScan(i)?.days(order: plan.dayOrder) { out[i] = Int32(d) } else { fail(i) }
                }
                return .date(out)
            case .timestamp:
                var out = [Int64](repeating: 0, count: n)
                for i in 0..<n where valid[i] {
                    if let t = dateScan(i)?.micros(order: plan.dayOrder) { out[i] = t } else { fail(i) }
                }
                return .timestamp(out)
            case .money:
                var out = [Int64](repeating: 0, count: n)
                var cur = [UInt8](repeating: 0, count: n)
                var codes: [String] = []
                for i in 0..<n where valid[i] {
                    if let (m, code) = Money.parse(cell(i), defaultCurrency: plan.currency) {
                        out[i] = m
                        if let k = codes.firstIndex(of: code) { cur[i] = UInt8(k) } else if codes.count < 255 {
                            codes.append(code)
                            cur[i] = UInt8(codes.count - 1)
                        } else { fail(i) }
                    } else { fail(i) }
                }
                return .money(minor: out, currency: cur, currencies: codes)
            }
        }
        return Outcome(column: Column(storage: storage, validity: valid), failedRows: failed)
    }
}
