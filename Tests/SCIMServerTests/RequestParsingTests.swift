import Foundation
import Hummingbird
import Testing

@testable import SCIMServer

@Suite("Query strings and request ids (pure)")
struct RequestParsingTests {
    /// What `formDecoded` replaced: Foundation's percent decoding after `+` became a space.
    static func foundationDecoded(_ text: String) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    @Test(
        "form decoding agrees with Foundation's",
        arguments: [
            "", "plain", "userName+eq+%22a%40b.com%22", "userName%20eq%20%22x%22", "a%2Bb+c", "%C3%BCber",
            "caf%C3%A9%20au%20lait", "100%", "%4", "%zz", "%e2%82", "%FF%FE", "%00", "a%2", "+++", "%2b%2B",
            "emails%5Btype%20eq%20%22work%22%5D.value", "ü+raw", "%41%42%43",
        ])
    func formDecoding(_ text: String) {
        #expect(Request.formDecoded(Substring(text).utf8) == Self.foundationDecoded(text))
    }

    @Test("query parameters: last value wins, a bare name is empty, names are decoded too")
    func parameters() {
        let request = Request(
            head: .init(
                method: .get, scheme: "http", authority: "localhost",
                path: "/Users?a=1&b&filter=x+eq+%22y%22&a=2&c%5B%5D=%7E"),
            body: .init(buffer: .init()))
        #expect(request.queryParameters == ["a": "2", "b": "", "filter": "x eq \"y\"", "c[]": "~"])
    }

    @Test("a NUL in a query string is found raw or as %00, nowhere else")
    func queryNUL() {
        for query in ["%00", "a=%00", "filter=a%00b", "x=\u{0}", "a=1&b=2%00", "%2500%00"] {
            #expect(QueryNULMiddleware.containsNUL(query), "\(query)")
        }
        for query in ["", "a=b", "%0", "%", "a=%2500", "a=%0A0", "%01", "00%", "x=%0"] {
            #expect(!QueryNULMiddleware.containsNUL(query), "\(query)")
        }
    }

    @Test("a bearer credential loses the spaces and tabs around it, nothing else")
    func bearerTrimming() {
        for (header, credential) in [
            ("Bearer lascim_a_b", "lascim_a_b"), ("bearer  \tlascim_a_b \t", "lascim_a_b"), ("Bearer    ", ""),
            ("Bearer a b", "a b"), ("Bearer \u{00A0}ü\u{00A0}", "\u{00A0}ü\u{00A0}"),
        ] {
            #expect(SCIMAuthMiddleware.trimmingSpaces(Substring(header).utf8.dropFirst(7)) == credential, "\(header)")
        }
    }

    @Test("request ids are version 4 UUID text and do not repeat")
    func requestIDs() throws {
        let generator = RequestIDGenerator()
        let ids = (0..<100_000).map { _ in generator.next() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(1000) {
            let uuid = try #require(UUID(uuidString: id))
            #expect(uuid.uuidString.lowercased() == id)
            #expect(Array(id)[14] == "4")
            #expect("89ab".contains(Array(id)[19]))
        }
        #expect(RequestIDGenerator().next() != RequestIDGenerator().next(), "each process draws its own key")
    }
}
