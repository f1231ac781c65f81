import Testing

@testable import SCIM

@Suite("List requests from query parameters")
struct ListRequestTests {
    @Test("parameter names are case-insensitive; counts and indexes are clamped")
    func names() throws {
        let request = try ListRequest(parameters: [
            "FILTER": "userName eq \"a\"", "StartIndex": "0", "COUNT": "5000", "sortorder": "Descending",
        ])
        #expect(request.filter != nil)
        #expect(request.startIndex == 1)
        #expect(request.count == ListRequest.maximumCount)
        #expect(request.sortOrder == .descending)
    }

    @Test(
        "a filter of only spaces or tabs (any Unicode space) is no filter",
        arguments: ["", " ", "\t \t", "\u{3000}", "\u{00A0} "])
    func blankFilter(_ text: String) throws {
        #expect(try ListRequest(parameters: ["filter": text]).filter == nil)
    }

    @Test(
        "a filter with anything else in it is parsed, and a bad one refused", arguments: ["\n", " x ", "userName eq"])
    func nonBlankFilter(_ text: String) {
        #expect(throws: SCIMError.self) { try ListRequest(parameters: ["filter": text]) }
    }

    @Test("cursor and startIndex together are refused")
    func cursorAndIndex() {
        #expect(throws: SCIMError.self) { try ListRequest(parameters: ["cursor": "", "startIndex": "2"]) }
    }

    @Test("RFC 7644 §3.4.2.4: startIndex below 1 is 1, a negative count 0, a count above the maximum the maximum")
    func clamping() throws {
        #expect(try ListRequest(parameters: ["startIndex": "-9223372036854775808"]).startIndex == 1)
        #expect(try ListRequest(parameters: ["count": "-3"]).count == 0)
        #expect(try ListRequest(parameters: ["count": "9223372036854775807"]).count == ListRequest.maximumCount)
        #expect(try ListRequest(parameters: ["startIndex": "9007199254740991"]).startIndex == 9_007_199_254_740_991)
    }

    @Test(
        "startIndex beyond 2^53 - 1, integers beyond 64 bits and non-integers are invalidValue",
        arguments: [
            ["startIndex": "9223372036854775807"], ["startIndex": "9007199254740992"],
            ["count": "99999999999999999999999"],
            ["startIndex": "abc"], ["count": "1.5"], ["count": "1e3"], ["startIndex": " 2"],
        ])
    func outOfRange(_ parameters: [String: String]) {
        #expect { try ListRequest(parameters: parameters) } throws: { ($0 as? SCIMError)?.scimType == .invalidValue }
    }

    @Test(
        "a SearchRequest's startIndex and count are JSON integers",
        arguments: [
            ["startIndex": "2"], ["count": "10"], ["count": 1.5], ["startIndex": true], ["count": 1e300],
            ["startIndex": ["1"]],
        ] as [JSONValue])
    func searchIntegers(_ members: JSONValue) {
        var body = members.objectValue ?? [:]
        body["schemas"] = [.string(SchemaURN.searchRequest)]
        #expect { try ListRequest(searchBody: .object(body)) } throws: { ($0 as? SCIMError)?.scimType == .invalidValue }
    }

    @Test("a SearchRequest's integers are clamped like the query's")
    func searchClamping() throws {
        let request = try ListRequest(searchBody: [
            "schemas": [.string(SchemaURN.searchRequest)], "startIndex": -4, "count": 5000,
        ])
        #expect(request.startIndex == 1)
        #expect(request.count == ListRequest.maximumCount)
    }

    @Test("integral numbers are written as JSON integers, whatever their size")
    func integersStayIntegers() {
        let page = ListPage<Int>(totalResults: 0, startIndex: ListRequest.maximumStartIndex, items: [], nextCursor: nil)
        let text = String(decoding: page.listResponse([], cursorPaging: false).serialized(), as: UTF8.self)
        #expect(text.contains("\"startIndex\":9007199254740991"), "\(text)")
        #expect(String(decoding: JSONValue.number(1e18).serialized(), as: UTF8.self) == "1000000000000000000")
        #expect(String(decoding: JSONValue.number(0.5).serialized(), as: UTF8.self) == "0.5")
    }
}
