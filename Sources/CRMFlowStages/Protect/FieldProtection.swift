import CRMFlowCore
import CRMFlowIO
import Crypto
import Foundation

/// The key material of `protect` and `decrypt`: 32 bytes from the environment or a key file, never from the pipeline
/// text. Two keys are derived from it (HKDF-SHA-256), one to encrypt and one to pseudonymise, so a token never
/// reveals anything about the encryption key.
public struct ProtectionKey {
    let encryption: SymmetricKey
    let pseudonymisation: SymmetricKey

    /// - Parameter text: 64 hex digits or the base64 of 32 bytes (what `crmflow keygen` prints).
    public init(text: String) throws(CRMFlowError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Self.hex(trimmed) ?? Base64Bytes.decode(Array(trimmed.utf8)), bytes.count == 32 else {
            throw CRMFlowError(.badPipeline, "the protection key is not 32 bytes written as 64 hex digits or base64",
                               hint: "make one with `crmflow keygen` and keep it in the environment or a key file")
        }
        let master = SymmetricKey(data: bytes)
        encryption = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("crmflow field encryption v1".utf8), outputByteCount: 32)
        pseudonymisation = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("crmflow pseudonymisation v1".utf8), outputByteCount: 32)
    }

    /// Reads the key from a file (its text, or 32 raw bytes).
    public init(file path: String) throws(CRMFlowError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CRMFlowError(.inputMissing, "cannot read the key file '\(path)'", hint: "check the path and its permissions")
        }
        if data.count == 32, String(data: data, encoding: .utf8) == nil {
            try self.init(text: data.map { String(format: "%02x", $0) }.joined())
        } else {
            try self.init(text: String(decoding: data, as: UTF8.self))
        }
    }

    static func hex(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let h = nibble(u[i]), let l = nibble(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}

/// Per-value protection of personal data. Formats are self-describing so a reader can tell what a value is:
/// `enc:v1:<base64 of nonce, ciphertext and tag>` (AES-256-GCM, a random 96-bit nonce per value) and
/// `tok:v1:<32 hex digits>` (the first 128 bits of HMAC-SHA-256 of the value: the same value and key always give the
/// same token, so joins and de-duplication still work).
public enum FieldProtection {
    public static let encryptedPrefix = "enc:v1:"
    public static let tokenPrefix = "tok:v1:"

    public static func encrypt(_ value: String, key: ProtectionKey) throws(CRMFlowError) -> String {
        do {
            let box = try AES.GCM.seal(Array(value.utf8), using: key.encryption)
            guard let combined = box.combined else { throw CRMFlowError(.stageFailed, "AES-GCM gave no combined box") }
            return encryptedPrefix + String(decoding: Base64Bytes.encode(Array(combined)), as: UTF8.self)
        } catch let e as CRMFlowError {
            throw e
        } catch {
            throw CRMFlowError(.stageFailed, "encryption failed: \(error)")
        }
    }

    public enum DecryptionProblem: Error, Sendable {
        case notEncrypted, malformed, wrongKeyOrAltered
        public var reason: String {
            switch self {
            case .notEncrypted: return "is not an encrypted value (enc:v1:...)"
            case .malformed: return "is not a well-formed encrypted value"
            case .wrongKeyOrAltered: return "cannot be decrypted: wrong key, or the value was altered"
            }
        }
    }

    public static func decrypt(_ value: String, key: ProtectionKey) throws(DecryptionProblem) -> String {
        guard value.hasPrefix(encryptedPrefix) else { throw .notEncrypted }
        guard let combined = Base64Bytes.decode(Array(value.utf8.dropFirst(encryptedPrefix.utf8.count))), combined.count >= 28,
              let box = try? AES.GCM.SealedBox(combined: combined) else { throw .malformed }
        guard let plain = try? AES.GCM.open(box, using: key.encryption) else { throw .wrongKeyOrAltered }
        guard let text = String(validating: plain, as: UTF8.self) else { throw .malformed }
        return text
    }

    /// `column` decrypted (nulls stay null), and for each row that could not be, why (its value is null).
    public static func decrypted(_ column: Column, named name: String, key: ProtectionKey) -> (column: Column, failures: [Int: String]) {
        var out = StringBuffer()
        var validity = Bitmap()
        var failures: [Int: String] = [:]
        for r in 0..<column.count {
            var clear: String?
            if case .string(let s) = column.value(at: r) {
                do { clear = try decrypt(s, key: key) } catch { failures[r] = "column '\(name)' \(error.reason)" }
            }
            if let clear { out.append(clear) } else { out.appendEmpty() }
            validity.append(clear != nil)
        }
        return (Column(storage: .string(out), validity: validity), failures)
    }

    public static func pseudonym(_ value: String, key: ProtectionKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(value.utf8), using: key.pseudonymisation)
        var out = Array(tokenPrefix.utf8)
        for b in Array(mac).prefix(16) {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let hexDigits = Array("0123456789abcdef".utf8)
}

/// Standard base64 (RFC 4648, with padding) on bytes.
public enum Base64Bytes {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return out
    }

    public static func decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = 0
        while i < text.count {
            var n: UInt32 = 0
            var pad = 0
            for k in 0..<4 {
                let c = text[i + k]
                let v: UInt32
                switch c {
                case 65...90: v = UInt32(c - 65)
                case 97...122: v = UInt32(c - 71)
                case 48...57: v = UInt32(c + 4)
                case UInt8(ascii: "+"): v = 62
                case UInt8(ascii: "/"): v = 63
                case UInt8(ascii: "="):
                    guard i + 4 == text.count, k >= 2 else { return nil }
                    v = 0
                    pad += 1
                default: return nil
                }
                if pad > 0, c != UInt8(ascii: "=") { return nil }
                n = n << 6 | v
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }
}
