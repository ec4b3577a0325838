import NIOCore

/// A body of `count` chunks, sent in order. `render(index)` renders one; it runs on any
/// thread, several at once, and only a few chunks are held at any time.
public struct ChunkedBody: Sendable {
    /// How many chunks there are.
    public var count: Int
    /// Renders chunk `index` (0 ..< `count`).
    public var render: @Sendable (_ index: Int) -> ByteBuffer

    /// A body of `count` chunks rendered by `render`.
    public init(count: Int, render: @escaping @Sendable (_ index: Int) -> ByteBuffer) {
        self.count = count
        self.render = render
    }
}
