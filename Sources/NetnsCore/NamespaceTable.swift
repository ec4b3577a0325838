/// The namespaces an aggregator knows, by cookie: records stored densely in one array, found
/// through an open-addressing index with a multiplicative hash of the cookie.
///
/// The ingest path looks a record up and changes it in place for every event; a Dictionary
/// would hash each cookie with SipHash and keep records at a load factor of up to 4/3. Cookies
/// are kernel-assigned counters, not attacker-chosen keys, so a cheap hash is safe here.
public struct NamespaceTable: Sendable {
    /// Every record, and the places of removed ones (cookie 0), in no particular order. A
    /// removed record leaves its place to the next one inserted: no record is ever moved
    /// (they are hundreds of bytes, and one is removed for every namespace freed once the
    /// history is full).
    public private(set) var storage: [NamespaceRecord] = []
    /// The vacant places of `storage`.
    private var vacancies: [Int32] = []
    /// Open-addressing index: place in `storage` + 1 for each slot (0 = empty).
    private var slots: [Int32] = Array(repeating: 0, count: 16)
    private var mask = 15

    /// Creates an empty table.
    public init() {}

    /// The number of records.
    public var count: Int { storage.count - vacancies.count }
    /// Whether there are none.
    public var isEmpty: Bool { count == 0 }
    /// Every record, in no particular order.
    public var values: LazyFilterSequence<[NamespaceRecord]> { storage.lazy.filter { $0.cookie != 0 } }
    /// The cookies of every record.
    public var keys: some Collection<UInt64> { values.map(\.cookie) }

    /// The record of `cookie`, if any.
    public subscript(cookie: UInt64) -> NamespaceRecord? {
        position(of: cookie).map { storage[$0] }
    }

    /// The place in `storage` of `cookie`'s record.
    public func position(of cookie: UInt64) -> Int? {
        var slot = home(cookie)
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            if storage[entry - 1].cookie == cookie { return entry - 1 }
            slot = (slot + 1) & mask
        }
    }

    /// Changes the record at `position` (as `position(of:)` just returned it) in place, or
    /// inserts `make()` and changes that if there is none.
    mutating func modify<Result>(at position: Int?, inserting make: () -> NamespaceRecord,
                                 _ body: (inout NamespaceRecord) -> Result) -> Result {
        let index: Int
        if let position {
            index = position
        } else {
            growIfNeeded()
            if let vacant = vacancies.popLast() {
                index = Int(vacant)
                storage[index] = make()
            } else {
                storage.append(make())
                index = storage.count - 1
            }
            place(index)
        }
        return body(&storage[index])
    }

    /// Reads every record in place, in table order: none is copied unless `body` copies it.
    func forEachRecord(_ body: (borrowing NamespaceRecord) -> Void) {
        storage.withUnsafeBufferPointer { records in
            for index in records.indices where records[index].cookie != 0 { body(records[index]) }
        }
    }

    /// Changes every record in place.
    mutating func modifyEach(_ body: (inout NamespaceRecord) -> Void) {
        for index in storage.indices where storage[index].cookie != 0 { body(&storage[index]) }
    }

    /// Removes the record of `cookie`; returns whether there was one. Its place is left
    /// vacant (what it references is released now), for the next record inserted.
    @discardableResult
    mutating func remove(_ cookie: UInt64) -> Bool {
        guard let index = position(of: cookie) else { return false }
        unplace(cookie)
        storage[index].cookie = 0
        storage[index].holders = []
        vacancies.append(Int32(index))
        return true
    }

    private func home(_ cookie: UInt64) -> Int {
        Int(truncatingIfNeeded: (cookie &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// The slot that holds `cookie` (which must be present).
    private func slot(of cookie: UInt64) -> Int {
        var slot = home(cookie)
        while storage[Int(slots[slot]) - 1].cookie != cookie { slot = (slot + 1) & mask }
        return slot
    }

    private mutating func place(_ index: Int) {
        var slot = home(storage[index].cookie)
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index + 1)
    }

    /// Empties the slot of `cookie` and shifts later entries of its run back (no tombstones).
    private mutating func unplace(_ cookie: UInt64) {
        var hole = slot(of: cookie)
        slots[hole] = 0
        var next = (hole + 1) & mask
        while slots[next] != 0 {
            let wanted = home(storage[Int(slots[next]) - 1].cookie)
            // Move the entry back if the hole lies between its home slot and where it is.
            if (next > hole && (wanted <= hole || wanted > next)) || (next < hole && wanted <= hole && wanted > next) {
                slots[hole] = slots[next]
                slots[next] = 0
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Keeps the index at most half full.
    private mutating func growIfNeeded() {
        guard (count + 1) * 2 > slots.count else { return }
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for index in storage.indices where storage[index].cookie != 0 { place(index) }
    }
}
