import CRMFlowCore
import CRMFlowStages

/// A loaded, validated pipeline: its stages in execution (topological) order.
public struct Pipeline: Sendable {
    public var name: String
    public var description: String?
    public var path: String
    public var text: String
    /// SHA-256 of the file's bytes, for the run manifest.
    public var sha256: String
    public var stages: [StageDeclaration]
    /// Output schemas known before reading data (names, and types where declared).
    public var knownSchemas: [String: ExprSchema]
    public var tests: ConfigNode?
    /// The `tests:` block, parsed.
    public var testCases: [PipelineTestCase] = []
    public var variables: [String: String]
    /// `allow_outside_out: true`: outputs may be written outside the output directory.
    public var allowsOutsideOut = false
    /// `mask_pii: true`: personal data is masked in rejects, review files and logs (as `--mask-pii`).
    public var masksPII = false

    public func stage(_ id: String) -> StageDeclaration? { stages.first { $0.id == id } }

    /// Stages that read `id`'s output.
    public func consumers(of id: String) -> [String] { stages.filter { $0.inputs.contains(id) }.map(\.id) }
}
