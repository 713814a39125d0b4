import Synchronization

/// Values read from the environment with `${env:NAME}`: registered when a pipeline is loaded, and replaced by
/// `${env:NAME}` in everything crmflow prints or writes about a run (logs, plans, summaries, manifests, rejects'
/// reasons). The data itself is never rewritten.
public enum Secrets {
    /// Values shorter than this are not secrets worth hiding, and replacing them would garble every message.
    public static let minimumLength = 4

    private static let registry = Mutex<[(value: String, name: String)]>([])

    /// Remembers `value` as the value of the environment variable `name`.
    public static func register(_ value: String, name: String) {
        guard value.count >= minimumLength else { return }
        registry.withLock { entries in
            guard !entries.contains(where: { $0.value == value }) else { return }
            entries.append((value, name))
            // NB: longest first, so a secret that contains another is replaced whole.
            entries.sort { $0.value.count > $1.value.count }
        }
    }

    /// Forgets every registered value (tests).
    public static func removeAll() { registry.withLock { $0.removeAll() } }

    /// `text` with every registered value replaced by `${env:NAME}`.
    public static func redact(_ text: String) -> String {
        let entries = registry.withLock { $0 }
        guard !entries.isEmpty else { return text }
        var out = text
        for e in entries where out.contains(e.value) {
            out = out.replacing(e.value, with: "${env:\(e.name)}")
        }
        return out
    }
}
