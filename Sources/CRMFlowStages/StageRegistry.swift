/// The one explicit list of stage kinds. The loader, `crmflow validate`, `crmflow stages` and the reference read it.
public enum StageRegistry {
    public static let all: [any Stage.Type] = [
        IngestStage.self, CleanStage.self, FilterStage.self, DeriveStage.self, SelectStage.self, UnionStage.self, JoinStage.self,
        AggregateStage.self, MergeStage.self, FunnelStage.self, KPIStage.self, TrendStage.self, SegmentStage.self, ScoreStage.self, ForecastStage.self, SnapshotStage.self, PipelineChangesStage.self, SortStage.self, LimitStage.self, SampleStage.self, ValuesStage.self, ProtectStage.self, DecryptStage.self, EmitStage.self, ReportStage.self,
    ]

    public static func type(_ kind: String) -> (any Stage.Type)? { all.first { $0.spec.kind == kind } }
    public static func spec(_ kind: String) -> StageSpec? { type(kind)?.spec }
    public static var kinds: [String] { all.map { $0.spec.kind } }
}
