import Testing

@testable import SCIM

@Suite("List requests from query parameters")
struct ListRequestTests {
    @Test("parameter names are case-insensitive; counts and indexes are clamped")
    func names() throws {
        let request = try ListRequest(parameters: ["FILTER": "userName eq \"a\"", "StartIndex": "0", "COUNT": "5000", "sortorder": "Descending"])
        #expect(request.filter != nil)
        #expect(request.startIndex == 1)
        #expect(request.count == ListRequest.maximumCount)
        #expect(request.sortOrder == .descending)
    }

    @Test("a filter of only spaces or tabs (any Unicode space) is no filter", arguments: ["", " ", "\t \t", "\u{3000}", "\u{00A0} "])
    func blankFilter(_ text: String) throws {
        #expect(try ListRequest(parameters: ["filter": text]).filter == nil)
    }

    @Test("a filter with anything else in it is parsed, and a bad one refused", arguments: ["\n", " x ", "userName eq"])
    func nonBlankFilter(_ text: String) {
        #expect(throws: SCIMError.self) { try ListRequest(parameters: ["filter": text]) }
    }

    @Test("cursor and startIndex together are refused")
    func cursorAndIndex() {
        #expect(throws: SCIMError.self) { try ListRequest(parameters: ["cursor": "", "startIndex": "2"]) }
    }
}
