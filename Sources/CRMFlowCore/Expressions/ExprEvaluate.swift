#if canImport(Glibc)
import Glibc
#endif

/// Column-at-a-time evaluation of compiled expressions with SQL null semantics.
///
/// Each node produces a whole column (or a constant) for the table; typed kernels handle the common operators on
/// contiguous arrays, and functions run per row over `Value`s.

/// The result of evaluating an expression over a table.
public struct EvalResult: Sendable {
    public var column: Column
    /// Rows whose value could not be computed (bad cast, unparsable date, currency mismatch): row index and reason.
    /// Their value is null.
    public var errors: [(row: Int, message: String)]
}

extension CompiledExpr {
    /// Evaluates the expression for every row of `table`.
    /// - Complexity: O(rows × nodes).
    public func evaluate(_ table: Table, env: EvalEnvironment) -> EvalResult {
        var e = Evaluator(table: table, env: env, count: table.rowCount)
        let v = e.eval(root)
        let column = v.materialized(count: table.rowCount, type: root.type)
        let errors = e.errors.sorted { $0.key < $1.key }.map { (row: $0.key, message: $0.value) }
        return EvalResult(column: column, errors: errors)
    }

    /// Evaluates a boolean expression as a row mask: true only where the value is true (null counts as false).
    public func mask(_ table: Table, env: EvalEnvironment) -> (mask: [Bool], errors: [(row: Int, message: String)]) {
        let r = evaluate(table, env: env)
        guard case .boolean(let values) = r.column.storage else { return ([Bool](repeating: false, count: table.rowCount), r.errors) }
        if r.column.validity == nil { return (values, r.errors) }
        return ((0..<values.count).map { values[$0] && !r.column.isNull($0) }, r.errors)
    }
}

/// A node's value: one constant for every row, or a column.
enum Vec {
    case constant(Value)
    case column(Column)

    func value(_ i: Int) -> Value {
        switch self {
        case .constant(let v): return v
        case .column(let c): return c.value(at: i)
        }
    }

    func isNull(_ i: Int) -> Bool {
        switch self {
        case .constant(let v): return v.isNull
        case .column(let c): return c.isNull(i)
        }
    }

    func materialized(count: Int, type: DataType) -> Column {
        switch self {
        case .column(let c): return c.type == type ? c : Vec.convert(c, to: type)
        case .constant(let v):
            var b = ColumnBuilder(type, capacity: count)
            for _ in 0..<count { b.append(v) }
            return b.finish()
        }
    }

    static func convert(_ c: Column, to type: DataType) -> Column {
        var b = ColumnBuilder(type, capacity: c.count)
        for i in 0..<c.count { b.append(c.value(at: i)) }
        return b.finish()
    }

    /// Doubles for numeric vectors (money as major units).
    func doubles(_ n: Int) -> (values: [Double], valid: [Bool]?) {
        switch self {
        case .constant(let v): return ([Double](repeating: v.asDouble ?? 0, count: n), v.isNull ? [Bool](repeating: false, count: n) : nil)
        case .column(let c):
            let valid = c.validity.map { v in (0..<n).map { v.isSet($0) } }
            switch c.storage {
            case .double(let a): return (a, valid)
            case .integer(let a): return (a.map(Double.init), valid)
            case .money(let a, _, _): return (a.map { Double($0) / 100 }, valid)
            default: return ((0..<n).map { c.value(at: $0).asDouble ?? 0 }, valid)
            }
        }
    }

    func ints(_ n: Int) -> (values: [Int64], valid: [Bool]?) {
        switch self {
        case .constant(let v):
            let x: Int64
            switch v {
            case .date(let d): x = Int64(d)
            case .timestamp(let t): x = t
            case .boolean(let b): x = b ? 1 : 0
            default: x = v.asInt ?? 0
            }
            return ([Int64](repeating: x, count: n), v.isNull ? [Bool](repeating: false, count: n) : nil)
        case .column(let c):
            let valid = c.validity.map { v in (0..<n).map { v.isSet($0) } }
            switch c.storage {
            case .integer(let a): return (a, valid)
            case .boolean(let a): return (a.map { $0 ? 1 : 0 }, valid)
            case .date(let a): return (a.map(Int64.init), valid)
            case .timestamp(let a): return (a, valid)
            default: return ((0..<n).map { c.value(at: $0).asInt ?? 0 }, valid)
            }
        }
    }
}

/// Appends values of one type and produces a column.
public struct ColumnBuilder {
    public let type: DataType
    var validity = Bitmap()
    var ints: [Int64] = []
    var doubles: [Double] = []
    var bools: [Bool] = []
    var dates: [Int32] = []
    var strings = StringBuffer()
    var currencyCodes: [String] = []
    var currencyIndex: [UInt8] = []

    public init(_ type: DataType, capacity: Int = 0) {
        self.type = type
        validity.reserveCapacity(capacity)
        switch type {
        case .integer, .timestamp, .money: ints.reserveCapacity(capacity)
        case .double: doubles.reserveCapacity(capacity)
        case .boolean: bools.reserveCapacity(capacity)
        case .date: dates.reserveCapacity(capacity)
        case .string: strings.reserveCapacity(values: capacity, bytes: capacity * 8)
        }
    }

    public mutating func appendNull() {
        validity.append(false)
        switch type {
        case .integer, .timestamp: ints.append(0)
        case .money: ints.append(0); currencyIndex.append(0)
        case .double: doubles.append(0)
        case .boolean: bools.append(false)
        case .date: dates.append(0)
        case .string: strings.appendEmpty()
        }
    }

    public mutating func append(_ v: Value) {
        if v.isNull { appendNull(); return }
        switch type {
        case .string:
            if case .string(let s) = v { strings.append(s) } else { strings.append(v.description) }
        case .integer:
            guard let i = v.asInt else { appendNull(); return }
            ints.append(i)
        case .double:
            guard let d = v.asDouble else { appendNull(); return }
            doubles.append(d)
        case .boolean:
            guard case .boolean(let b) = v else { appendNull(); return }
            bools.append(b)
        case .date:
            guard let d = v.asDays else { appendNull(); return }
            dates.append(d)
        case .timestamp:
            guard let t = v.asMicros else { appendNull(); return }
            ints.append(t)
        case .money:
            let (minor, code): (Int64, String)
            switch v {
            case .money(let m, let c): (minor, code) = (m, c)
            case .integer(let i): (minor, code) = (i &* 100, "")
            case .double(let d): (minor, code) = (Int64((d * 100).rounded(.toNearestOrAwayFromZero)), "")
            default: appendNull(); return
            }
            var idx = currencyCodes.firstIndex(of: code)
            if idx == nil, currencyCodes.count < 255 {
                currencyCodes.append(code)
                idx = currencyCodes.count - 1
            }
            ints.append(minor)
            currencyIndex.append(UInt8(idx ?? 0))
        }
        validity.append(true)
    }

    public func finish() -> Column {
        switch type {
        case .string: return Column(storage: .string(strings), validity: validity)
        case .integer: return Column(storage: .integer(ints), validity: validity)
        case .double: return Column(storage: .double(doubles), validity: validity)
        case .boolean: return Column(storage: .boolean(bools), validity: validity)
        case .date: return Column(storage: .date(dates), validity: validity)
        case .timestamp: return Column(storage: .timestamp(ints), validity: validity)
        case .money: return Column(storage: .money(minor: ints, currency: currencyIndex, currencies: currencyCodes), validity: validity)
        }
    }
}

struct Evaluator {
    let table: Table
    let env: EvalEnvironment
    let count: Int
    var errors: [Int: String] = [:]

    mutating func fail(_ row: Int, _ message: String) {
        if errors[row] == nil { errors[row] = message }
    }

    mutating func eval(_ b: Bound) -> Vec {
        switch b {
        case .constant(let v, _): return .constant(v)
        case .column(let i, _): return .column(table.columns[i])
        case .negate(let inner, let type):
            let v = eval(inner)
            return mapRows(type, [v]) { a in
                switch a[0] {
                case .integer(let i): return i == .min ? .error("integer overflow") : .value(.integer(-i))
                case .double(let d): return .value(.double(-d))
                case .money(let m, let c): return .value(.money(-m, c))
                default: return .value(.null)
                }
            }
        case .not(let inner):
            let v = eval(inner)
            if case .constant(let c) = v { if case .boolean(let x) = c { return .constant(.boolean(!x)) }; return .constant(.null) }
            guard case .column(let col) = v, case .boolean(let a) = col.storage else { return .constant(.null) }
            return .column(Column(storage: .boolean(a.map { !$0 }), validity: col.validity))
        case .logic(let op, let l, let r):
            // An error on the right counts only where the left side leaves the answer open (`x <> '' and cast(x as
            // integer) > 0` rejects nothing for an empty x), as CASE's branches do.
            let lv = eval(l)
            let (rv, rightErrors) = isolated { $0.eval(r) }
            for (row, m) in rightErrors where lv.isNull(row) || (lv.value(row) == .boolean(true)) == (op == .and) { fail(row, m) }
            return logic(op, lv, rv)
        case .arithmetic(let op, let l, let r, let type):
            return arithmetic(op, eval(l), eval(r), type)
        case .compare(let op, let l, let r, let domain):
            return compare(op, eval(l), eval(r), domain)
        case .concat(let l, let r):
            let (lv, rv) = (eval(l), eval(r))
            if case .constant = lv, case .constant = rv { return mapRows(.string, [lv, rv]) { a in .value(.string(a[0].description + a[1].description)) } }
            return concatenated(lv, rv)
        case .isNull(let inner, let negated):
            let v = eval(inner)
            switch v {
            case .constant(let c): return .constant(.boolean(c.isNull != negated))
            case .column(let c): return .column(Column(storage: .boolean((0..<count).map { c.isNull($0) != negated }), validity: nil))
            }
        case .inList(let x, let items, let negated, let domain):
            return inList(eval(x), items.map { eval($0) }, negated: negated, domain)
        case .like(let x, let compiled, let pattern, let negated):
            let xv = eval(x)
            let pv = eval(pattern)
            var out = [Bool](repeating: false, count: count)
            var valid = Bitmap()
            valid.reserveCapacity(count)
            for i in 0..<count {
                if xv.isNull(i) || pv.isNull(i) { valid.append(false); continue }
                valid.append(true)
                let p = compiled ?? LikePattern(pv.value(i).asString ?? "")
                out[i] = withBytes(xv, i) { p.matches($0) } != negated
            }
            return .column(Column(storage: .boolean(out), validity: valid))
        case .caseWhen(let whens, let thens, let otherwise, let type):
            return caseWhen(whens, thens, otherwise, type)
        case .cast(let inner, let type):
            let v = eval(inner)
            if let fast = castText(v, to: type) { return fast }
            return mapRows(type, [v]) { a in Evaluator.cast(a[0], to: type) }
        case .call(let def, let args, let type):
            // lower(trim(x)) and upper(trim(x)), the usual key normalisation: one pass and one buffer, not two.
            if def.name == "lower" || def.name == "upper", args.count == 1, case .call(let inner, let innerArgs, let innerType) = args[0],
               inner.name == "trim", innerArgs.count == 1 {
                let v = eval(innerArgs[0])
                if case .column(let c) = v, case .string(let buf) = c.storage {
                    let upper = def.name == "upper"
                    return .column(Self.mapText(c, buf) { cell, out in Self.caseMapped(Self.trimmedUnicode(cell), &out, upper: upper) })
                }
                return apply(def, [apply(inner, [v], innerType)], type)
            }
            return apply(def, args.map { eval($0) }, type)
        }
    }

    /// A function on evaluated arguments: its column kernel where there is one, else its definition row by row.
    mutating func apply(_ def: FunctionDef, _ vs: [Vec], _ type: DataType) -> Vec {
        if let fast = kernel(def.name, vs) { return fast }
        let env = env
        if def.isStrict {
            return mapRows(type, vs) { a in def.body(a, env) }
        }
        return mapRows(type, vs, strict: false) { a in def.body(a, env) }
    }

    /// Evaluates `body` with its own error list, returned beside the value instead of recorded.
    mutating func isolated(_ body: (inout Evaluator) -> Vec) -> (Vec, [Int: String]) {
        let saved = errors
        errors = [:]
        let v = body(&self)
        let got = errors
        errors = saved
        return (v, got)
    }

    /// SQL's CASE: a row's value and errors come only from the WHENs it reaches and the branch it takes, so a cast
    /// that a WHEN guards against (`case when x ~ digits then cast(x as integer) end`) rejects nothing. A WHEN is not
    /// evaluated once every row is decided, nor a branch no row takes; text branches are copied as bytes.
    mutating func caseWhen(_ whens: [Bound], _ thens: [Bound], _ otherwise: Bound?, _ type: DataType) -> Vec {
        let undecided = Int32(-2), noValue = Int32(-1)
        var chosen = [Int32](repeating: undecided, count: count)
        var open = count
        for (k, w) in whens.enumerated() where open > 0 {
            let (cond, condErrors) = isolated { $0.eval(w) }
            for (row, m) in condErrors where chosen[row] == undecided { fail(row, m) }
            switch cond {
            case .constant(let v):
                guard case .boolean(true) = v else { continue }
                for i in 0..<count where chosen[i] == undecided { chosen[i] = Int32(k) }
                open = 0
            case .column(let c):
                guard case .boolean(let a) = c.storage else { continue }
                for i in 0..<count where chosen[i] == undecided && a[i] && !c.isNull(i) {
                    chosen[i] = Int32(k)
                    open -= 1
                }
            }
        }
        let branches = thens + (otherwise.map { [$0] } ?? [])
        let fallback = otherwise == nil ? noValue : Int32(thens.count)
        var taken = [Bool](repeating: false, count: branches.count)
        for i in 0..<count {
            if chosen[i] == undecided { chosen[i] = fallback }
            if chosen[i] >= 0 { taken[Int(chosen[i])] = true }
        }
        var values: [Vec] = []
        for (k, b) in branches.enumerated() {
            guard taken[k] else { values.append(.constant(.null)); continue }
            let (v, branchErrors) = isolated { $0.eval(b) }
            for (row, m) in branchErrors where chosen[row] == Int32(k) { fail(row, m) }
            values.append(v)
        }
        return .column(Self.gather(values, chosen, type, count: count))
    }

    /// Row i's value from `values[chosen[i]]` (null where chosen[i] < 0).
    static func gather(_ values: [Vec], _ chosen: [Int32], _ type: DataType, count: Int) -> Column {
        let columns: [Column?] = values.map { v in
            guard case .column(let c) = v else { return nil }
            return c.type == type ? c : Vec.convert(c, to: type)
        }
        if type == .string {
            let fixed: [[UInt8]?] = values.map { v in
                guard case .constant(let c) = v, !c.isNull else { return nil }
                if case .string(let s) = c { return Array(s.utf8) }
                return Array(c.description.utf8)
            }
            var out = StringBuffer(), valid = Bitmap()
            valid.reserveCapacity(count)
            for i in 0..<count {
                let k = Int(chosen[i])
                if k >= 0, let c = columns[k], !c.isNull(i), case .string(let buf) = c.storage {
                    buf.withBytes(i) { out.append(UnsafeRawBufferPointer($0)) }
                    valid.append(true)
                } else if k >= 0, columns[k] == nil, let f = fixed[k] {
                    f.withUnsafeBytes { out.append($0) }
                    valid.append(true)
                } else {
                    out.appendEmpty()
                    valid.append(false)
                }
            }
            return Column(storage: .string(out), validity: valid)
        }
        var builder = ColumnBuilder(type, capacity: count)
        for i in 0..<count {
            let k = Int(chosen[i])
            guard k >= 0 else { builder.appendNull(); continue }
            if let c = columns[k] { builder.append(c.value(at: i)) } else { builder.append(values[k].value(i)) }
        }
        return builder.finish()
    }

    func withBytes<R>(_ v: Vec, _ i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        switch v {
        case .column(let c):
            if case .string(let b) = c.storage { return b.withBytes(i, body) }
            var s = c.value(at: i).description
            return s.withUTF8(body)
        case .constant(let value):
            var s = value.description
            return s.withUTF8(body)
        }
    }

    /// `l || r` on bytes (null when either side is null): text columns are copied as they are, other values as
    /// their text, and a constant side is rendered once.
    func concatenated(_ l: Vec, _ r: Vec) -> Vec {
        var out = StringBuffer(), valid = Bitmap(), cell: [UInt8] = []
        valid.reserveCapacity(count)
        let fixed: [[UInt8]?] = [l, r].map { if case .constant(let v) = $0 { return Array(v.description.utf8) }; return nil }
        for i in 0..<count {
            if l.isNull(i) || r.isNull(i) { out.appendEmpty(); valid.append(false); continue }
            cell.removeAll(keepingCapacity: true)
            if let f = fixed[0] { cell.append(contentsOf: f) } else { withBytes(l, i) { cell.append(contentsOf: $0) } }
            if let f = fixed[1] { cell.append(contentsOf: f) } else { withBytes(r, i) { cell.append(contentsOf: $0) } }
            cell.withUnsafeBytes { out.append($0) }
            valid.append(true)
        }
        return .column(Column(storage: .string(out), validity: valid))
    }

    /// Applies `body` per row; with `strict`, a null argument gives null without calling it.
    mutating func mapRows(_ type: DataType, _ args: [Vec], strict: Bool = true, _ body: ([Value]) -> RowResult) -> Vec {
        if args.allSatisfy({ if case .constant = $0 { return true }; return false }) {
            let values = args.map { $0.value(0) }
            if strict, values.contains(where: \.isNull) { return .constant(.null) }
            if count == 0 { return .constant(.null) }
            switch body(values) {
            case .value(let v): return .constant(v)
            case .error(let m):
                for i in 0..<count { fail(i, m) }
                return .constant(.null)
            }
        }
        var builder = ColumnBuilder(type, capacity: count)
        var row = [Value](repeating: .null, count: args.count)
        for i in 0..<count {
            var hasNull = false
            for k in 0..<args.count {
                row[k] = args[k].value(i)
                if row[k].isNull { hasNull = true }
            }
            if strict, hasNull { builder.appendNull(); continue }
            switch body(row) {
            case .value(let v): builder.append(v)
            case .error(let m):
                fail(i, m)
                builder.appendNull()
            }
        }
        return .column(builder.finish())
    }

    // MARK: kernels

    func validity(_ a: [Bool]?, _ b: [Bool]?) -> Bitmap? {
        guard a != nil || b != nil else { return nil }
        var v = Bitmap()
        v.reserveCapacity(count)
        for i in 0..<count { v.append((a?[i] ?? true) && (b?[i] ?? true)) }
        return v
    }

    mutating func logic(_ op: BinaryOperator, _ l: Vec, _ r: Vec) -> Vec {
        // Three-valued: false and null = false; true or null = true.
        var out = [Bool](repeating: false, count: count)
        var valid = Bitmap()
        valid.reserveCapacity(count)
        for i in 0..<count {
            let a: Bool? = l.isNull(i) ? nil : (l.value(i) == .boolean(true))
            let b: Bool? = r.isNull(i) ? nil : (r.value(i) == .boolean(true))
            let result: Bool?
            if op == .and {
                if a == false || b == false { result = false } else if a == nil || b == nil { result = nil } else { result = true }
            } else {
                if a == true || b == true { result = true } else if a == nil || b == nil { result = nil } else { result = false }
            }
            out[i] = result ?? false
            valid.append(result != nil)
        }
        return .column(Column(storage: .boolean(out), validity: valid))
    }

    mutating func arithmetic(_ op: BinaryOperator, _ l: Vec, _ r: Vec, _ type: DataType) -> Vec {
        let lt = l.valueType, rt = r.valueType
        if type == .integer, lt == .integer, rt == .integer {
            let (a, av) = l.ints(count), (b, bv) = r.ints(count)
            var out = [Int64](repeating: 0, count: count)
            var valid = validity(av, bv)
            for i in 0..<count {
                let (v, overflow): (Int64, Bool)
                switch op {
                case .add: (v, overflow) = a[i].addingReportingOverflow(b[i])
                case .subtract: (v, overflow) = a[i].subtractingReportingOverflow(b[i])
                case .multiply: (v, overflow) = a[i].multipliedReportingOverflow(by: b[i])
                default:
                    if b[i] == 0 { (v, overflow) = (0, false); valid = markNull(valid, i) } else { (v, overflow) = a[i].remainderReportingOverflow(dividingBy: b[i]) }
                }
                if overflow, valid?.isSet(i) ?? true { fail(i, "integer overflow in '\(op.rawValue)'"); valid = markNull(valid, i) }
                out[i] = v
            }
            return .column(Column(storage: .integer(out), validity: valid))
        }
        if type == .double, lt != .timestamp {
            let (a, av) = l.doubles(count), (b, bv) = r.doubles(count)
            var out = [Double](repeating: 0, count: count)
            var valid = validity(av, bv)
            for i in 0..<count {
                switch op {
                case .add: out[i] = a[i] + b[i]
                case .subtract: out[i] = a[i] - b[i]
                case .multiply: out[i] = a[i] * b[i]
                case .divide:
                    if b[i] == 0 { valid = markNull(valid, i) } else { out[i] = a[i] / b[i] }
                default:
                    if b[i] == 0 { valid = markNull(valid, i) } else { out[i] = a[i].truncatingRemainder(dividingBy: b[i]) }
                }
            }
            return .column(Column(storage: .double(out), validity: valid))
        }
        return mapRows(type, [l, r]) { a in Evaluator.arithmeticValue(op, a[0], a[1], type) }
    }

    func markNull(_ v: Bitmap?, _ i: Int) -> Bitmap? {
        var v = v ?? Bitmap(repeating: true, count: count)
        v[i] = false
        return v
    }

    static func arithmeticValue(_ op: BinaryOperator, _ a: Value, _ b: Value, _ type: DataType) -> RowResult {
        switch type {
        case .money:
            switch (a, b) {
            case (.money(let x, let cx), .money(let y, let cy)):
                guard cx == cy || cx.isEmpty || cy.isEmpty else { return .error("cannot \(op == .add ? "add" : "subtract") \(cx) and \(cy) amounts") }
                let (v, o) = op == .add ? x.addingReportingOverflow(y) : x.subtractingReportingOverflow(y)
                return o ? .error("money overflow") : .value(.money(v, cx.isEmpty ? cy : cx))
            case (.money(let x, let c), _), (_, .money(let x, let c)):
                let other = (a.isMoney ? b : a).asDouble ?? 0
                let amount = Double(x)
                let r: Double
                switch op {
                case .add: r = amount + other * 100
                case .subtract: r = a.isMoney ? amount - other * 100 : other * 100 - amount
                case .multiply: r = amount * other
                case .divide:
                    guard other != 0 else { return .value(.null) }
                    r = amount / other
                default:
                    guard other != 0 else { return .value(.null) }
                    r = amount.truncatingRemainder(dividingBy: other * 100)
                }
                guard r.isFinite, abs(r) < 9.2e18 else { return .error("money overflow") }
                return .value(.money(Int64(r.rounded(.toNearestOrAwayFromZero)), c))
            default: return .value(.null)
            }
        case .double:
            if case .money(let x, let cx) = a, case .money(let y, let cy) = b {
                guard cx == cy || cx.isEmpty || cy.isEmpty else { return .error("cannot divide \(cx) by \(cy) amounts") }
                return y == 0 ? .value(.null) : .value(.double(Double(x) / Double(y)))
            }
            if let x = a.asMicros, let y = b.asMicros { return .value(.double(Double(x - y) / 86_400_000_000)) }
            return .value(.null)
        case .date:
            if let d = a.asDays, let n = b.asInt { return .value(.date(op == .add ? d + Int32(clamping: n) : d - Int32(clamping: n))) }
            if let n = a.asInt, let d = b.asDays { return .value(.date(d + Int32(clamping: n))) }
            return .value(.null)
        case .integer:
            if let x = a.asDays, let y = b.asDays { return .value(.integer(Int64(x) - Int64(y))) }
            return .value(.null)
        default: return .value(.null)
        }
    }

    mutating func compare(_ op: BinaryOperator, _ l: Vec, _ r: Vec, _ domain: ComparisonDomain) -> Vec {
        @inline(__always) func holds(_ c: Int) -> Bool {
            switch op {
            case .equal: return c == 0
            case .notEqual: return c != 0
            case .less: return c < 0
            case .lessEqual: return c <= 0
            case .greater: return c > 0
            default: return c >= 0
            }
        }
        var out = [Bool](repeating: false, count: count)
        switch domain {
        case .integer, .date, .timestamp:
            let (a, av) = domain == .timestamp ? micros(l) : l.ints(count)
            let (b, bv) = domain == .timestamp ? micros(r) : r.ints(count)
            for i in 0..<count { out[i] = holds(a[i] < b[i] ? -1 : (a[i] > b[i] ? 1 : 0)) }
            return .column(Column(storage: .boolean(out), validity: validity(av, bv)))
        case .double:
            let (a, av) = l.doubles(count), (b, bv) = r.doubles(count)
            for i in 0..<count { out[i] = holds(a[i] < b[i] ? -1 : (a[i] > b[i] ? 1 : 0)) }
            return .column(Column(storage: .boolean(out), validity: validity(av, bv)))
        case .string:
            var valid = Bitmap()
            valid.reserveCapacity(count)
            if case .column(let lc) = l, case .string(let lb) = lc.storage, case .constant(.string(var s)) = r {
                s.withUTF8 { key in
                    lb.bytes.withUnsafeBufferPointer { all in
                        for i in 0..<count {
                            valid.append(!lc.isNull(i))
                            out[i] = holds(compareBytes(UnsafeBufferPointer(rebasing: all[lb.range(i)]), key))
                        }
                    }
                }
                return .column(Column(storage: .boolean(out), validity: valid))
            }
            for i in 0..<count {
                let isNull = l.isNull(i) || r.isNull(i)
                valid.append(!isNull)
                if !isNull { out[i] = holds(withBytes(l, i) { a in withBytes(r, i) { b in compareBytes(a, b) } }) }
            }
            return .column(Column(storage: .boolean(out), validity: valid))
        case .boolean, .money:
            var valid = Bitmap()
            valid.reserveCapacity(count)
            for i in 0..<count {
                let (a, b) = (l.value(i), r.value(i))
                valid.append(!a.isNull && !b.isNull)
                if !a.isNull, !b.isNull {
                    if domain == .money, case .money(_, let cx) = a, case .money(_, let cy) = b, cx != cy, !cx.isEmpty, !cy.isEmpty {
                        fail(i, "cannot compare \(cx) and \(cy) amounts")
                        valid[i] = false
                        continue
                    }
                    out[i] = holds(compareValues(a, b))
                }
            }
            return .column(Column(storage: .boolean(out), validity: valid))
        }
    }

    func micros(_ v: Vec) -> ([Int64], [Bool]?) {
        if case .column(let c) = v, case .date(let a) = c.storage {
            return (a.map { Int64($0) * 86_400_000_000 }, c.validity.map { b in (0..<count).map { b.isSet($0) } })
        }
        if case .constant(let c) = v { return ([Int64](repeating: c.asMicros ?? 0, count: count), c.isNull ? [Bool](repeating: false, count: count) : nil) }
        return v.ints(count)
    }

    mutating func inList(_ x: Vec, _ items: [Vec], negated: Bool, _ domain: ComparisonDomain) -> Vec {
        var out = [Bool](repeating: false, count: count)
        var valid = Bitmap()
        valid.reserveCapacity(count)
        // Constant text lists: compare bytes without building strings.
        if domain == .string, case .column(let c) = x, case .string(let buf) = c.storage,
           items.allSatisfy({ if case .constant(.string) = $0 { return true }; return false }) {
            let keys: [[UInt8]] = items.compactMap { if case .constant(.string(let s)) = $0 { return Array(s.utf8) }; return nil }
            buf.bytes.withUnsafeBufferPointer { all in
                for i in 0..<count {
                    valid.append(!c.isNull(i))
                    let cell = UnsafeBufferPointer(rebasing: all[buf.range(i)])
                    let found = keys.contains { k in k.withUnsafeBufferPointer { compareBytes(cell, $0) == 0 } }
                    out[i] = found != negated
                }
            }
            return .column(Column(storage: .boolean(out), validity: valid))
        }
        for i in 0..<count {
            let v = x.value(i)
            if v.isNull { valid.append(false); continue }
            var found = false
            var sawNull = false
            for item in items {
                let w = item.value(i)
                if w.isNull { sawNull = true; continue }
                if compareValues(v, w) == 0 { found = true; break }
            }
            // SQL: x in (..., null) is null when not found.
            if !found, sawNull { valid.append(false); continue }
            valid.append(true)
            out[i] = found != negated
        }
        return .column(Column(storage: .boolean(out), validity: valid))
    }

    static func cast(_ v: Value, to type: DataType) -> RowResult {
        switch (v, type) {
        case (_, .string): return .value(.string(v.description))
        case (.string(let s), _):
            let bytes = Array(s.utf8)
            let parsed: Value? = bytes.withUnsafeBufferPointer { raw in
                let p = Scalars.trimmed(raw)
                switch type {
                case .integer: return Scalars.integer(p).map(Value.integer)
                case .double: return Scalars.double(p).map(Value.double)
                case .boolean: return Scalars.boolean(p, lenient: true).map(Value.boolean)
                case .date:
                    guard let scan = DateParsing.scan(p), scan.shape != .numeric, let d = scan.days(order: nil) else { return nil }
                    return .date(Int32(d))
                case .timestamp:
                    guard let scan = DateParsing.scan(p), scan.shape != .numeric, let t = scan.micros(order: nil) else { return nil }
                    return .timestamp(t)
                case .money: return Money.parse(p).map { Value.money($0.0, $0.1) }
                case .string: return .string(s)
                }
            }
            if let parsed { return .value(parsed) }
            return .error("cannot cast '\(s)' to \(type.rawValue)")
        case (.integer(let i), .double): return .value(.double(Double(i)))
        case (.integer(let i), .money): return .value(.money(i &* 100, ""))
        case (.integer(let i), .boolean): return .value(.boolean(i != 0))
        case (.integer, .integer), (.double, .double), (.boolean, .boolean), (.date, .date), (.timestamp, .timestamp), (.money, .money):
            return .value(v)
        case (.double(let d), .integer):
            guard d.isFinite, abs(d) < 9.2e18 else { return .error("cannot cast \(d) to integer") }
            return .value(.integer(Int64(d.rounded(.toNearestOrAwayFromZero))))
        case (.double(let d), .money):
            guard d.isFinite, abs(d) < 9.2e16 else { return .error("cannot cast \(d) to money") }
            return .value(.money(Int64((d * 100).rounded(.toNearestOrAwayFromZero)), ""))
        case (.money(let m, _), .double): return .value(.double(Double(m) / 100))
        case (.money(let m, _), .integer): return .value(.integer(m / 100))
        case (.boolean(let b), .integer): return .value(.integer(b ? 1 : 0))
        case (.date(let d), .timestamp): return .value(.timestamp(Int64(d) * 86_400_000_000))
        case (.timestamp, .date): return .value(.date(v.asDays ?? 0))
        default: return .error("cannot cast \(v.typeName) to \(type.rawValue)")
        }
    }
}

extension Vec {
    /// The storage type of a column, or of a non-null constant.
    var valueType: DataType? {
        switch self {
        case .column(let c): return c.type
        case .constant(let v): return v.typeName == "null" ? nil : DataType(rawValue: v.typeName)
        }
    }
}

extension Value {
    var isMoney: Bool { if case .money = self { return true }; return false }
    /// The type name of the value (`null` for null).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .string: return "string"
        case .integer: return "integer"
        case .double: return "double"
        case .boolean: return "boolean"
        case .date: return "date"
        case .timestamp: return "timestamp"
        case .money: return "money"
        }
    }
}

// MARK: - Byte-level kernels for the common functions on text columns (no String or Value per row)

extension Evaluator {
    /// `cast(text as T)` over a text column with the CSV reader's converters; numbers to numbers without `Value`s.
    mutating func castText(_ v: Vec, to type: DataType) -> Vec? {
        if case .column(let c) = v, let fast = Self.castNumeric(c, to: type) { return .column(fast) }
        guard type != .string, case .column(let c) = v, case .string(let buf) = c.storage else { return nil }
        let outcome = ColumnConversion.convert(buf, validity: c.validity, plan: ColumnPlan(type: type, isDeclared: true, emptyIsNull: false))
        for r in outcome.failedRows { fail(r, "cannot cast '\(buf.string(r))' to \(type.rawValue)") }
        return .column(outcome.column)
    }

    /// Fast paths for functions whose first argument is a column (and other arguments constants).
    mutating func kernel(_ name: String, _ args: [Vec]) -> Vec? {
        if name == "date_trunc", args.count == 2, case .constant(.string(let u)) = args[0], let unit = DateUnit(text: u),
           case .column(let d) = args[1], case .date(let days) = d.storage {
            return .column(Column(storage: .date(days.map { DateMath.truncate($0, unit) }), validity: d.validity))
        }
        guard case .column(let c)? = args.first else { return nil }
        if name == "round", case .double(let a) = c.storage {
            var digits = 0
            if args.count == 2 {
                guard case .constant(.integer(let d)) = args[1] else { return nil }
                digits = Int(d)
            }
            let f = pow(10, Double(digits))
            return .column(Column(storage: .double(a.map { ($0 * f).rounded(.toNearestOrAwayFromZero) / f }), validity: c.validity))
        }
        switch (name, c.storage) {
        case ("lower", .string(let buf)): return .column(Self.mapText(c, buf) { Self.caseMapped($0, &$1, upper: false) })
        case ("upper", .string(let buf)): return .column(Self.mapText(c, buf) { Self.caseMapped($0, &$1, upper: true) })
        case ("trim", .string(let buf)):
            return .column(Self.mapText(c, buf) { cell, out in out.append(contentsOf: Self.trimmedUnicode(cell)) })
        case ("soundex", .string(let buf)):
            return .column(Self.mapText(c, buf) { cell, out in
                if !StringSimilarity.soundexASCII(cell, into: &out) { out.append(contentsOf: StringSimilarity.soundex(String(decoding: cell, as: UTF8.self)).utf8) }
            })
        case ("substr", .string(let buf)):
            // Constant bounds, ASCII cells sliced as bytes (others by characters).
            guard args.count >= 2, case .constant(.integer(let from)) = args[1] else { return nil }
            var length: Int64? = nil
            if args.count == 3 { guard case .constant(.integer(let n)) = args[2] else { return nil }; length = n }
            let start = max(Int(from), 1) - 1, len = length.map { Int($0) }
            return .column(Self.mapText(c, buf) { cell, out in
                if Scalars.isASCII(cell) {
                    guard start < cell.count, len.map({ $0 > 0 }) ?? true else { return }
                    out.append(contentsOf: cell[start..<min(cell.count, start + (len ?? cell.count))])
                } else {
                    let chars = Array(String(decoding: cell, as: UTF8.self))
                    guard start < chars.count, len.map({ $0 > 0 }) ?? true else { return }
                    out.append(contentsOf: String(chars[start..<min(chars.count, start + (len ?? chars.count))]).utf8)
                }
            })
        case ("length", .string(let buf)):
            var out = [Int64](repeating: 0, count: c.count)
            buf.bytes.withUnsafeBufferPointer { all in
                for i in 0..<c.count where !c.isNull(i) {
                    let cell = UnsafeBufferPointer(rebasing: all[buf.range(i)])
                    out[i] = cell.allSatisfy({ $0 < 0x80 }) ? Int64(cell.count) : Int64(String(decoding: cell, as: UTF8.self).count)
                }
            }
            return .column(Column(storage: .integer(out), validity: c.validity))
        case ("parse_date", .string(let buf)):
            guard let formats = Self.constantFormats(args) else { return nil }
            let (days, valid) = Self.parseEach(c, buf, formats) { $0.days(order: .monthFirst).map(Int32.init) }
            return .column(Column(storage: .date(days), validity: valid))
        case ("parse_timestamp", .string(let buf)) where args.count > 1:
            guard let formats = Self.constantFormats(args) else { return nil }
            let (micros, valid) = Self.parseEach(c, buf, formats) { $0.micros(order: .monthFirst) }
            return .column(Column(storage: .timestamp(micros), validity: valid))
        case ("date", .timestamp(let micros)):
            let perDay = Int64(86_400_000_000)
            return .column(Column(storage: .date(micros.map { Int32(truncatingIfNeeded: ($0 >= 0 ? $0 : $0 - (perDay - 1)) / perDay) }), validity: c.validity))
        case ("starts_with", .string(let buf)), ("ends_with", .string(let buf)), ("contains", .string(let buf)):
            guard args.count == 2, case .constant(let pv) = args[1] else { return nil }
            guard case .string(let p) = pv else { return .constant(.null) }
            let part = Array(p.utf8)
            var out = [Bool](repeating: false, count: c.count)
            buf.bytes.withUnsafeBufferPointer { all in
                part.withUnsafeBufferPointer { q in
                    for i in 0..<c.count where !c.isNull(i) {
                        let cell = UnsafeBufferPointer(rebasing: all[buf.range(i)])
                        guard cell.count >= q.count else { continue }
                        if q.isEmpty { out[i] = true; continue }
                        switch name {
                        case "starts_with": out[i] = memcmp(cell.baseAddress!, q.baseAddress!, q.count) == 0
                        case "ends_with": out[i] = memcmp(cell.baseAddress! + (cell.count - q.count), q.baseAddress!, q.count) == 0
                        default: out[i] = Scalars.contains(cell, q)
                        }
                    }
                }
            }
            return .column(Column(storage: .boolean(out), validity: c.validity))
        case ("currency", .money(_, let cur, let codes)):
            var b = StringBuffer()
            b.reserveCapacity(values: c.count, bytes: c.count * 3)
            for i in 0..<c.count {
                if c.isNull(i) || codes.isEmpty { b.appendEmpty() } else { b.append(codes[Int(cur[i])]) }
            }
            return .column(Column(storage: .string(b), validity: c.validity))
        case ("regexp_matches", .string(let buf)):
            guard args.count >= 2, case .constant(.string(let pattern)) = args[1] else { return nil }
            var icase = false
            if args.count == 3 {
                guard case .constant(.string(let flags)) = args[2] else { return nil }
                icase = flags.contains("i")
            }
            guard let re = CompiledRegex.cache.get(pattern, caseInsensitive: icase) else { return nil }
            var out = [Bool](repeating: false, count: c.count)
            var scratch: [UInt8] = []
            buf.bytes.withUnsafeBufferPointer { all in
                for i in 0..<c.count where !c.isNull(i) {
                    scratch.removeAll(keepingCapacity: true)
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: all[buf.range(i)]))
                    scratch.append(0)
                    out[i] = scratch.withUnsafeBufferPointer { re.matches(cString: $0) }
                }
            }
            return .column(Column(storage: .boolean(out), validity: c.validity))
        case ("regexp_replace", .string(let buf)):
            guard args.count >= 3, case .constant(.string(let pattern)) = args[1], case .constant(.string(let replacement)) = args[2] else { return nil }
            var global = false, icase = false
            if args.count == 4 {
                guard case .constant(.string(let flags)) = args[3] else { return nil }
                global = flags.contains("g")
                icase = flags.contains("i")
            }
            guard let re = CompiledRegex.cache.get(pattern, caseInsensitive: icase) else { return nil }
            let repl = Array(replacement.utf8)
            // Deleting a character class everywhere (`[^0-9+]` → '', 'g': keep digits and '+') is a byte filter.
            if global, !icase, repl.isEmpty, let keep = Self.byteClassToKeep(pattern) {
                return .column(Self.mapText(c, buf) { cell, out in
                    for b in cell where keep[Int(b)] { out.append(b) }
                })
            }
            // NB: a text without any match is copied as is; matching needs a NUL-terminated copy of the cell.
            var scratch: [UInt8] = []
            return .column(Self.mapText(c, buf) { cell, out in
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: cell)
                scratch.append(0)
                scratch.withUnsafeBufferPointer { out.append(contentsOf: FunctionCatalog.regexReplace(cString: $0, re, repl, global: global)) }
            })
        default:
            return nil
        }
    }

    /// The format arguments after the first, when all are text constants.
    static func constantFormats(_ args: [Vec]) -> [[UInt8]]? {
        var formats: [[UInt8]] = []
        for a in args.dropFirst() {
            guard case .constant(.string(let f)) = a else { return nil }
            formats.append(Array(f.utf8))
        }
        return formats
    }

    /// Each trimmed cell read with the first format that matches and gives a value (null when none does).
    static func parseEach<T: FixedWidthInteger>(_ c: Column, _ buf: StringBuffer, _ formats: [[UInt8]], _ value: (DateScan) -> T?) -> ([T], Bitmap) {
        var out = [T](repeating: 0, count: c.count)
        var valid = Bitmap()
        valid.reserveCapacity(c.count)
        buf.bytes.withUnsafeBufferPointer { all in
            for i in 0..<c.count {
                if c.isNull(i) { valid.append(false); continue }
                let cell = Scalars.trimmed(UnsafeBufferPointer(rebasing: all[buf.range(i)]))
                var found = false
                for format in formats {
                    if let scan = DateParsing.parse(cell, format: format), let v = value(scan) {
                        out[i] = v
                        found = true
                        break
                    }
                }
                valid.append(found)
            }
        }
        return (out, valid)
    }

    /// Casts between integer, double and money columns (money as major units; to money rounds half away from zero).
    static func castNumeric(_ c: Column, to type: DataType) -> Column? {
        switch (c.storage, type) {
        case (.money(let minor, _, _), .double): return Column(storage: .double(minor.map { Double($0) / 100 }), validity: c.validity)
        case (.integer(let a), .double): return Column(storage: .double(a.map(Double.init)), validity: c.validity)
        case (.double(let a), .money):
            // Values beyond ±9e16 cannot be cents in an Int64: those take the row-by-row path, which reports them.
            guard a.allSatisfy({ !$0.isFinite || abs($0) < 9.2e16 }), a.allSatisfy(\.isFinite) else { return nil }
            return Column(storage: .money(minor: a.map { Int64(($0 * 100).rounded(.toNearestOrAwayFromZero)) }, currency: [UInt8](repeating: 0, count: a.count),
                                          currencies: [""]), validity: c.validity)
        case (.integer(let a), .money):
            guard a.allSatisfy({ abs($0) < Int64.max / 100 }) else { return nil }
            return Column(storage: .money(minor: a.map { $0 * 100 }, currency: [UInt8](repeating: 0, count: a.count), currencies: [""]), validity: c.validity)
        default: return nil
        }
    }

    /// For a pattern that is one character class — a bracket expression of ASCII characters, ranges and `\d \s \w`
    /// (`[^0-9+]`, `[ -]`, `[^\d+]`), or one of `\d \D \s \S \w \W` — optionally followed by `+`, the bytes a
    /// global replacement by '' keeps. Bytes of other characters match a negated class (as POSIX regex does in the C
    /// locale, byte by byte), so they are dropped by `[^...]` and `\D` and kept by `[...]` and `\d`.
    static func byteClassToKeep(_ pattern: String) -> [Bool]? {
        var p = Array(pattern.utf8)
        let backslash = UInt8(ascii: "\\")
        if p.count > 1, p.last == UInt8(ascii: "+"), p[p.count - 2] != backslash { p.removeLast() }
        func shorthand(_ b: UInt8) -> (set: [Bool], negated: Bool)? {
            var set = [Bool](repeating: false, count: 256)
            switch b | 0x20 {
            case UInt8(ascii: "d"): for c in UInt8(ascii: "0")...UInt8(ascii: "9") { set[Int(c)] = true }
            case UInt8(ascii: "s"): for c in [9, 10, 11, 12, 13, 32] { set[c] = true }
            case UInt8(ascii: "w"):
                for c in 0..<128 where (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) || c == 95 { set[c] = true }
            default: return nil
            }
            return (set, b < 0x60)  // the capital letter is the complement
        }
        var inClass = [Bool](repeating: false, count: 256)
        var negated = false
        if p.count == 2, p[0] == backslash {
            guard let (set, neg) = shorthand(p[1]) else { return nil }
            inClass = set
            negated = neg
        } else {
            guard p.count >= 3, p.first == UInt8(ascii: "["), p.last == UInt8(ascii: "]") else { return nil }
            p = Array(p.dropFirst().dropLast())
            negated = p.first == UInt8(ascii: "^")
            if negated { p.removeFirst() }
            guard !p.isEmpty, p.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") }) else { return nil }
            var i = 0
            while i < p.count {
                if p[i] == backslash {
                    guard i + 1 < p.count else { return nil }
                    if p[i + 1] == backslash {
                        inClass[Int(backslash)] = true
                    } else {
                        guard let (set, neg) = shorthand(p[i + 1]), !neg else { return nil }  // \D inside brackets: not POSIX
                        for b in 0..<256 where set[b] { inClass[b] = true }
                    }
                    i += 2
                } else if i + 2 < p.count, p[i + 1] == UInt8(ascii: "-"), p[i + 2] != backslash {
                    guard p[i] <= p[i + 2] else { return nil }
                    for b in p[i]...p[i + 2] { inClass[Int(b)] = true }
                    i += 3
                } else {
                    inClass[Int(p[i])] = true
                    i += 1
                }
            }
        }
        return (0..<256).map { negated ? inClass[$0] : !inClass[$0] }
    }

    /// Applies a byte transform to every non-null cell of a text column.
    static func mapText(_ c: Column, _ buf: StringBuffer, _ body: (UnsafeBufferPointer<UInt8>, inout [UInt8]) -> Void) -> Column {
        var out = StringBuffer()
        out.reserveCapacity(values: c.count, bytes: buf.bytes.count)
        var cellOut: [UInt8] = []
        buf.bytes.withUnsafeBufferPointer { all in
            for i in 0..<c.count {
                if c.isNull(i) { out.appendEmpty(); continue }
                cellOut.removeAll(keepingCapacity: true)
                body(UnsafeBufferPointer(rebasing: all[buf.range(i)]), &cellOut)
                cellOut.withUnsafeBytes { out.append($0) }
            }
        }
        return Column(storage: .string(out), validity: c.validity)
    }

    /// Case mapping byte by byte for ASCII and Latin-1 letters; other scalars through Unicode's full case mapping.
    static func caseMapped(_ cell: UnsafeBufferPointer<UInt8>, _ out: inout [UInt8], upper: Bool) {
        // All-ASCII text (the usual case): copy, then flip the letters in place.
        if Scalars.isASCII(cell) {
            let start = out.count
            out.append(contentsOf: cell)
            out.withUnsafeMutableBufferPointer { o in
                if upper {
                    for i in start..<o.count where o[i] &- 97 < 26 { o[i] -= 32 }
                } else {
                    for i in start..<o.count where o[i] &- 65 < 26 { o[i] += 32 }
                }
            }
            return
        }
        var i = 0
        let n = cell.count
        while i < n {
            let b = cell[i]
            if b < 0x80 {
                if upper { out.append(b >= 97 && b <= 122 ? b - 32 : b) } else { out.append(b >= 65 && b <= 90 ? b + 32 : b) }
                i += 1
                continue
            }
            // U+00C0-U+00DE <-> U+00E0-U+00FE (C3 80-9E <-> C3 A0-BE), except × and ÷; ß and ÿ have other mappings.
            if b == 0xC3, i + 1 < n {
                let t = cell[i + 1]
                if !upper, t >= 0x80, t <= 0x9E, t != 0x97 { out.append(0xC3); out.append(t + 0x20); i += 2; continue }
                if upper, t >= 0xA0, t <= 0xBE, t != 0xB7 { out.append(0xC3); out.append(t - 0x20); i += 2; continue }
            }
            // Any other scalar: decode it, map it, encode the result.
            var j = i + 1
            while j < n, cell[j] & 0xC0 == 0x80 { j += 1 }
            let scalarText = String(decoding: UnsafeBufferPointer(rebasing: cell[i..<j]), as: UTF8.self)
            if let scalar = scalarText.unicodeScalars.first, scalarText.unicodeScalars.count == 1 {
                out.append(contentsOf: (upper ? scalar.properties.uppercaseMapping : scalar.properties.lowercaseMapping).utf8)
            } else {
                out.append(contentsOf: scalarText.utf8)
            }
            i = j
        }
    }

    /// Strips white space at both ends: ASCII white space and the Unicode space separators (NBSP, U+2000-U+200A,
    /// U+2028, U+2029, U+202F, U+205F, U+3000, U+1680, U+0085), byte by byte.
    static func trimmedUnicode(_ cell: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var lo = 0, hi = cell.count
        func spaceLength(at i: Int) -> Int {
            let b = cell[i]
            if b == 32 || (b >= 9 && b <= 13) { return 1 }
            if b == 0xC2, i + 1 < cell.count, cell[i + 1] == 0xA0 || cell[i + 1] == 0x85 { return 2 }
            if b == 0xE2, i + 2 < cell.count, cell[i + 1] == 0x80, cell[i + 2] <= 0x8A || cell[i + 2] == 0xA8 || cell[i + 2] == 0xA9 || cell[i + 2] == 0xAF { return 3 }
            if b == 0xE2, i + 2 < cell.count, cell[i + 1] == 0x81, cell[i + 2] == 0x9F { return 3 }
            if b == 0xE3, i + 2 < cell.count, cell[i + 1] == 0x80, cell[i + 2] == 0x80 { return 3 }
            if b == 0xE1, i + 2 < cell.count, cell[i + 1] == 0x9A, cell[i + 2] == 0x80 { return 3 }
            return 0
        }
        while lo < hi {
            let k = spaceLength(at: lo)
            if k == 0 { break }
            lo += k
        }
        while hi > lo {
            // Step back to the start of the last scalar.
            var s = hi - 1
            while s > lo, cell[s] & 0xC0 == 0x80 { s -= 1 }
            let k = spaceLength(at: s)
            if k == 0 || s + k != hi { break }
            hi = s
        }
        return UnsafeBufferPointer(rebasing: cell[lo..<hi])
    }
}
