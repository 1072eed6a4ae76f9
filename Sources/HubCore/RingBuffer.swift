/// A double-ended queue in one contiguous allocation: appends and removals at either end in O(1) amortised, and
/// indexing from the oldest element. It grows by doubling up to `maximumCapacity`, and halves when a quarter full,
/// so that it holds at most about twice its elements.
struct RingBuffer<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    /// The storage index of the oldest element.
    private var head = 0
    private(set) var count = 0
    /// Fills slots that hold no element (the storage is a plain array, so every slot needs a value).
    private let placeholder: Element
    private let maximumCapacity: Int

    init(placeholder: Element, maximumCapacity: Int = .max) {
        precondition(maximumCapacity > 0)
        self.placeholder = placeholder
        self.maximumCapacity = maximumCapacity
    }

    var isEmpty: Bool { count == 0 }
    var capacity: Int { storage.count }

    /// The element `offset` places after the oldest.
    subscript(offset: Int) -> Element {
        get {
            precondition(offset >= 0 && offset < count, "ring buffer offset out of range")
            return storage[slot(offset)]
        }
    }

    var first: Element? { isEmpty ? nil : self[0] }
    var last: Element? { isEmpty ? nil : self[count - 1] }

    mutating func append(_ element: Element) {
        if count == storage.count {
            precondition(count < maximumCapacity, "ring buffer is full")
            resize(to: Swift.min(Swift.max(2 * count, 16), maximumCapacity))
        }
        storage[slot(count)] = element
        count += 1
    }

    @discardableResult
    mutating func removeFirst() -> Element {
        precondition(!isEmpty, "removeFirst from an empty ring buffer")
        let element = storage[head]
        storage[head] = placeholder
        head = head + 1 == storage.count ? 0 : head + 1
        count -= 1
        shrinkIfSparse()
        return element
    }

    @discardableResult
    mutating func removeLast() -> Element {
        precondition(!isEmpty, "removeLast from an empty ring buffer")
        let index = slot(count - 1)
        let element = storage[index]
        storage[index] = placeholder
        count -= 1
        shrinkIfSparse()
        return element
    }

    /// The first offset whose element is not `isBefore` the sought one, in a buffer ordered by it.
    func partitioningIndex(where isBefore: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if isBefore(self[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private func slot(_ offset: Int) -> Int {
        let index = head + offset
        return index >= storage.count ? index - storage.count : index
    }

    private mutating func shrinkIfSparse() {
        if storage.count > 16 && count <= storage.count / 4 { resize(to: storage.count / 2) }
    }

    private mutating func resize(to newCapacity: Int) {
        var resized: [Element] = []
        resized.reserveCapacity(newCapacity)
        for offset in 0..<count { resized.append(storage[slot(offset)]) }
        resized.append(contentsOf: repeatElement(placeholder, count: newCapacity - count))
        storage = resized
        head = 0
    }
}
