import Testing
@testable import CRMFlowStages

/// Notes of a stage run in several partitions read as one run's.
@Suite struct PartitionNotesTests {
    @Test(arguments: [
        (["big: fired for 12 rows", "big: fired for 30 rows"], ["big: fired for 42 rows"]),
        (["20 rows without a date or value are not counted", "owner=Ann: naive", "3 rows without a date or value are not counted"],
         ["23 rows without a date or value are not counted", "owner=Ann: naive"]),
        // Numbers inside words or after a decimal point are text: ids and figures are kept, not added.
        (["model v2 at 0.5: 3 rows", "model v2 at 0.5: 4 rows"], ["model v2 at 0.5: 7 rows"]),
        (["sMAPE 6.5 on ann", "sMAPE 7.5 on bob"], ["sMAPE 6.5 on ann", "sMAPE 7.5 on bob"]),
        // A distinct count cannot be added: each partition's largest, said so.
        (["874 distinct names give 548 distinct keys in k", "300 distinct names give 612 distinct keys in k"],
         ["per partition, up to: 874 distinct names give 612 distinct keys in k"]),
        (["same 5 note", "same 5 note"], ["same 5 note"]),
    ])
    func notesThatDifferOnlyInCountsAreAdded(_ notes: [String], _ expected: [String]) {
        #expect(PartitionNotes.combine(notes) == expected)
    }
}
