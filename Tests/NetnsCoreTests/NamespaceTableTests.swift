import Testing
@testable import NetnsCore

@Suite("Namespace table")
struct NamespaceTableTests {
    @Test("agrees with a dictionary through random inserts, changes and removals")
    func model() {
        var table = NamespaceTable()
        var model: [UInt64: UInt32] = [:]
        var generator = SplitMix64(seed: 42)
        for step in 0..<20_000 {
            // Small key space so runs collide and removals shift entries back.
            let cookie = generator.next() % 3000 + 1
            switch generator.next() % 3 {
            case 0, 1:
                let inum = UInt32(step)
                table.modify(cookie, inserting: { NamespaceRecord(cookie: cookie, inum: 0) }) { $0.inum = inum }
                model[cookie] = inum
            default:
                #expect(table.remove(cookie) == (model.removeValue(forKey: cookie) != nil))
            }
        }
        #expect(table.count == model.count)
        for (cookie, inum) in model {
            #expect(table[cookie]?.inum == inum)
        }
        #expect(Set(table.keys) == Set(model.keys))
        #expect(table[999_999] == nil)
    }

    @Test("a removed record's place is taken by the next one inserted; nothing vacant is ever seen")
    func vacanciesAreReused() {
        var table = NamespaceTable()
        for cookie in UInt64(1)...3 {
            table.modify(cookie, inserting: { NamespaceRecord(cookie: cookie, inum: UInt32(cookie)) }) { _ in }
        }
        table.modify(2, inserting: { NamespaceRecord(cookie: 2, inum: 2) }) { $0.holders = [Holder(kind: .task, pid: 1, comm: "x")] }
        let removed = table.remove(2)
        #expect(removed)
        #expect(table.count == 2 && table.values.count == 2)
        #expect(Set(table.keys) == [1, 3])
        #expect(table.storage.count == 3)
        table.modify(4, inserting: { NamespaceRecord(cookie: 4, inum: 4) }) { _ in }
        #expect(table.storage.count == 3)
        #expect(table[4]?.inum == 4 && table[4]?.holders.isEmpty == true)
        #expect(Set(table.keys) == [1, 3, 4])
        var visited: [UInt64] = []
        table.modifyEach { visited.append($0.cookie) }
        #expect(Set(visited) == [1, 3, 4] && visited.count == 3)
    }
}

extension NamespaceTable {
    /// Changes the record of `cookie` in place, inserting `make()` first if there is none.
    mutating func modify<Result>(_ cookie: UInt64, inserting make: () -> NamespaceRecord,
                                 _ body: (inout NamespaceRecord) -> Result) -> Result {
        modify(at: position(of: cookie), inserting: make, body)
    }
}
