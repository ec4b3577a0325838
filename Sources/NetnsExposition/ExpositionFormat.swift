/// The text formats `/metrics` speaks, and the choice between them from an `Accept` header.
public enum ExpositionFormat: Sendable, Equatable {
    /// Prometheus text format 0.0.4: the default, and what `--textfile` writes.
    case prometheusText
    /// OpenMetrics 1.0.0: served when the scraper prefers it (Prometheus asks for it first).
    case openMetrics

    /// The Content-Type of a body in this format.
    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format to answer a request with `accept` in: the media range with the highest
    /// quality that names a format served here (ties go to the earlier one); text 0.0.4 when
    /// there is no header, nothing matches or the header cannot be read.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        var best: (format: ExpositionFormat, quality: Double)?
        for range in accept.split(separator: ",") {
            guard let offer = MediaRange(range), offer.quality > 0, let format = offer.format else { continue }
            if best == nil || offer.quality > best!.quality { best = (format, offer.quality) }
        }
        return best?.format ?? .prometheusText
    }
}

/// One element of an `Accept` header: `type/subtype;param=value;q=0.5`.
private struct MediaRange {
    var type: Substring
    var version: Substring?
    var quality = 1.0

    init?(_ text: Substring) {
        var parts = text.split(separator: ";").makeIterator()
        guard let type = parts.next()?.trimmed, !type.isEmpty else { return nil }
        self.type = type
        while let parameter = parts.next() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            switch pair[0].trimmed.lowercased() {
            case "q":
                guard let quality = Double(pair[1].trimmed), (0...1).contains(quality) else { return nil }
                self.quality = quality
            case "version":
                version = pair[1].trimmed
            default:
                continue
            }
        }
    }

    /// The format this range asks for, if one is served here.
    var format: ExpositionFormat? {
        switch type.lowercased() {
        case "application/openmetrics-text":
            version == nil || version == "1.0.0" || version == "0.0.1" ? .openMetrics : nil
        case "text/plain":
            version == nil || version == "0.0.4" ? .prometheusText : nil
        case "*/*", "text/*":
            .prometheusText
        default:
            nil
        }
    }
}

extension Substring {
    fileprivate var trimmed: Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isBlank($0) }), let last = lastIndex(where: { !isBlank($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
