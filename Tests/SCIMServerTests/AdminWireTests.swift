import Foundation
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

/// The admin API's one way of writing absent values: `@Nullable` keys are always present, `null`
/// when absent, and a present value is written as it would be without the wrapper.
@Suite("Admin wire shapes")
struct AdminWireTests {
    private struct Shape: Encodable {
        var id: String
        @Nullable var note: String?
        @Nullable var at: Date?
        /// A plain optional is left out when absent, as `nextCursor` of a user page is.
        var omitted: String?
    }

    private static func body(_ value: some Encodable) throws -> String {
        String(decoding: try Responses.jsonBody(value), as: UTF8.self)
    }

    @Test("absent values are null, present ones as without the wrapper, dates as RFC 3339")
    func nullable() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(try Self.body(Shape(id: "a", note: nil, at: nil)) == #"{"at":null,"id":"a","note":null}"#)
        #expect(
            try Self.body(Shape(id: "a", note: "n", at: date, omitted: "o"))
                == #"{"at":"\#(SCIMDate.format(date))","id":"a","note":"n","omitted":"o"}"#)
    }

    @Test("a store refusal becomes the admin error of its kind")
    func storeErrors() {
        #expect(AdminError(.notFound("organisation", "No organisation.")) == .notFound("No organisation."))
        #expect(AdminError(.conflict("slug", "Taken.")) == .conflict("Taken."))
        #expect(AdminError(.invalid("name", "name is required.")) == .badRequest("name is required."))
    }
}
