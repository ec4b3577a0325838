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
}
