import Foundation
import Testing
@testable import CRMFlowCore
@testable import CRMFlowIO
@testable import CRMFlowPipeline
@testable import CRMFlowStages

/// Issue 14, points 8 and 9: field encryption and pseudonymisation.
@Suite struct ProtectTests {
    static let key = (0..<32).map { String(format: "%02x", $0) }.joined()
    static let otherKey = String(repeating: "ab", count: 32)
    static let people = table([
        ["id": "1", "email": "ann.lee@example.com", "phone": "+15550101234", "name": "Ann Lee"],
        ["id": "2", "email": "bob@example.org", "phone": nil, "name": "Bob Stone"],
        ["id": "3", "email": "ann.lee@example.com", "phone": "+15550109999", "name": nil],
    ], columns: ["id", "email", "phone", "name"])

    static let stages = """
      people:
        ingest: { path: given.csv }
      safe:
        protect:
          input: people
          key: "${env:CRMFLOW_KEY}"
          columns:
            email: encrypt
            phone: pseudonymise
            name: { method: redact, mask: "***" }
      clear:
        decrypt: { input: safe, columns: [email], key: "${env:CRMFLOW_DECRYPT_KEY}" }

    """

    func run(encryptWith: String = key, decryptWith: String = key, given: Table = people) throws -> (RunReport, [String: Table]) {
        try runStages(Self.stages, given: ["people": given], keep: ["safe", "clear"],
                      environment: ["CRMFLOW_KEY": encryptWith, "CRMFLOW_DECRYPT_KEY": decryptWith])
    }

    @Test func encryptsPseudonymisesAndRedactsAndDecryptRestores() throws {
        let (report, out) = try run()
        #expect(report.exitStatus == 0)
        let safe = rendered(out["safe"])
        #expect(safe.map { $0[1] }.allSatisfy { $0.hasPrefix("enc:v1:") })
        #expect(safe[0][1] != safe[2][1], "a random nonce per value: equal e-mails encrypt differently")
        #expect(safe[0][2].hasPrefix("tok:v1:") && safe[0][2].count == 7 + 32)
        #expect(safe[1][2] == "null" && safe[2][3] == "null", "nulls stay null")
        #expect(safe.map { $0[3] } == ["***", "***", "null"])
        #expect(rendered(out["clear"]).map { $0[1] } == ["ann.lee@example.com", "bob@example.org", "ann.lee@example.com"])
    }

    @Test func pseudonymsAreStableForTheSameKeyAndDifferForAnother() throws {
        let (_, first) = try run()
        let (_, second) = try run()
        let (_, other) = try run(encryptWith: Self.otherKey, decryptWith: Self.otherKey)
        let tokens = { (t: [String: Table]) in rendered(t["safe"]).map { $0[2] } }
        #expect(tokens(first) == tokens(second))
        #expect(tokens(first)[0] != tokens(other)[0])
    }

    @Test func theKeyDerivationAndFormatsMatchTheStandards() throws {
        // Known answers computed independently (Python: hmac / hashlib HKDF, cryptography's AESGCM).
        let key = try ProtectionKey(text: Self.key)
        #expect(FieldProtection.pseudonym("ann.lee@example.com", key: key) == "tok:v1:42c554cd556d154877bb0b510e21f07d")
        let fromPython = "enc:v1:ZGVmZ2hpamtsbW5vSyK22aL21qdSI3MMPVjJYvLM+1wI+u+uwfW5JQ+ZnMlrnAw="
        #expect(try FieldProtection.decrypt(fromPython, key: key) == "ann.lee@example.com")
        let base64 = try ProtectionKey(text: Data((0..<32).map { UInt8($0) }).base64EncodedString())
        #expect(FieldProtection.pseudonym("x", key: base64) == FieldProtection.pseudonym("x", key: key), "hex and base64 keys are the same key")
        #expect(throws: CRMFlowError.self) { try ProtectionKey(text: "too short") }
    }

    @Test func aWrongKeyOrAnAlteredValueRejectsTheRowWithItsReason() throws {
        let (wrong, out) = try run(decryptWith: Self.otherKey)
        #expect(wrong.exitStatus == 0)
        #expect(out["clear"]?.rowCount == 0)
        let clear = try #require(wrong.stages.first { $0.id == "clear" })
        #expect(clear.accounting?.rejected == 3)
        // One altered value: only its row is rejected.
        let (_, protected) = try run()
        var safe = try #require(protected["safe"])
        let email = try #require(safe.column(named: "email"))
        var values = (0..<safe.rowCount).map { email.value(at: $0) }
        if case .string(let s) = values[1] { values[1] = .string(String(s.dropLast(3)) + (s.hasSuffix("AAA") ? "BBB" : "AAA")) }
        safe = safe.setting("email", Column.make(.string, values))
        let (altered, restored) = try runStages("  safe:\n    ingest: { path: given.csv }\n  clear:\n    decrypt: { input: safe, columns: [email], key: \"${env:K}\" }\n",
                                                given: ["safe": safe], keep: ["clear"], environment: ["K": Self.key])
        #expect(rendered(restored["clear"]).map { $0[0] } == ["1", "3"])
        let report = try #require(altered.stages.first { $0.id == "clear" })
        #expect(report.accounting?.rejected == 1)
        let rejects = try String(contentsOfFile: try #require(report.rejectsFile), encoding: .utf8)
        #expect(rejects.contains("E_DECRYPT,\"column 'email' cannot be decrypted: wrong key, or the value was altered\""))
    }

    @Test func aKeyWrittenInThePipelineOrMissingIsAValidationError() {
        let literal = "pipeline: t\nstages:\n  a:\n    ingest: { path: sample-data/salesforce/contacts.csv }\n  p:\n    protect: { input: a, key: \"\(Self.key)\", columns: { Email: encrypt } }\n"
        let (_, d1) = load(literal)
        #expect(d1.contains { $0.code == .invalidValue && $0.message.contains("must come from the environment or a key file") && $0.location?.line == 6 })
        let missing = "pipeline: t\nstages:\n  a:\n    ingest: { path: sample-data/salesforce/contacts.csv }\n  p:\n    protect: { input: a, columns: { Email: pseudonymise, Phone: { method: truncate, last: 4 } } }\n"
        let (_, d2) = load(missing)
        #expect(d2.contains { $0.code == .missingOption && $0.message.contains("needs a key") })
        let typo = "pipeline: t\nstages:\n  a:\n    ingest: { path: sample-data/salesforce/contacts.csv }\n  p:\n    protect: { input: a, columns: { Email: encrypted } }\n"
        let (_, d3) = load(typo, environment: [:])
        #expect(d3.contains { $0.message.contains("unknown protection method 'encrypted'") && ($0.hint ?? "").contains("did you mean 'encrypt'?") })
    }

    struct TruncateCase: CustomTestStringConvertible, Sendable {
        var option: String
        var expected: [String]
        var testDescription: String { option }
    }

    @Test(arguments: [
        TruncateCase(option: "{ method: truncate, keep: domain }", expected: ["example.com", "example.org", "example.com"]),
        TruncateCase(option: "{ method: truncate, first: 3 }", expected: ["ann", "bob", "ann"]),
        TruncateCase(option: "{ method: truncate, last: 4 }", expected: [".com", ".org", ".com"]),
        TruncateCase(option: "redact", expected: ["[redacted]", "[redacted]", "[redacted]"]),
    ])
    func truncateAndRedactNeedNoKey(_ c: TruncateCase) throws {
        let (report, out) = try runStages("  people:\n    ingest: { path: given.csv }\n  t:\n    protect: { input: people, columns: { email: \(c.option) } }\n",
                                          given: ["people": Self.people], keep: ["t"])
        #expect(report.exitStatus == 0)
        #expect(rendered(out["t"]).map { $0[1] } == c.expected)
    }

    @Test func base64RoundTripsEveryLength() {
        var g = SystemRandomNumberGenerator()
        for n in 0..<70 {
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            let encoded = Base64Bytes.encode(bytes)
            #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
            #expect(Base64Bytes.decode(encoded) == bytes)
        }
        #expect(Base64Bytes.decode(Array("abc".utf8)) == nil)
        #expect(Base64Bytes.decode(Array("ab=c".utf8)) == nil)
    }
}
