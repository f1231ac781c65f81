import Foundation
import Postgres

/// Team membership rules shared by Users (department → primary team) and Groups (pushed members).
///
/// A membership row remembers why it exists (`via_group`, `via_department`), so removing one reason
/// never removes a member who is still there for the other.
enum TeamMembership {
    /// Whether `assignDepartment` would change nothing: the department is exactly the name of the
    /// current primary team, or there is neither. An exact comparison, not a case-folded one: Swift's
    /// and PostgreSQL's lowercasing may disagree beyond ASCII, and a near miss only costs the statements.
    static func departmentUnchanged(_ department: String?, currentTeamName: String?) -> Bool {
        let name = department?.trimmingCharacters(in: .whitespacesAndNewlines)
        return (name?.isEmpty == false ? name : nil) == currentTeamName
    }

    /// Makes the team named `department` the user's primary team (creating the team if needed) and
    /// takes them out of their previous department team unless they were also pushed into it.
    static func assignDepartment(
        _ department: String?, userID: UUID, previousTeam: UUID?, schema: PostgresIdentifier,
        on connection: PostgresConnection
    ) throws {
        let name = department?.trimmingCharacters(in: .whitespacesAndNewlines)
        var team: UUID? = nil
        if let name, !name.isEmpty {
            team = try connection.query(
                """
                INSERT INTO \(schema).teams (id, display_name) VALUES (\(UUID()), \(name))
                ON CONFLICT (lower(display_name)) DO UPDATE SET display_name = \(schema).teams.display_name
                RETURNING id
                """
            ).first?.decode(0, as: UUID.self)
        }
        guard team != previousTeam else { return }
        if let previousTeam {
            _ = try connection.query(
                """
                WITH kept AS (
                    UPDATE \(schema).team_members SET via_department = false
                    WHERE team_id = \(previousTeam) AND user_id = \(userID) AND via_group
                )
                DELETE FROM \(schema).team_members WHERE team_id = \(previousTeam) AND user_id = \(userID) AND NOT via_group
                """)
        }
        if let team {
            _ = try connection.query(
                """
                INSERT INTO \(schema).team_members (team_id, user_id, via_department) VALUES (\(team), \(userID), true)
                ON CONFLICT (team_id, user_id) DO UPDATE SET via_department = true
                """)
        }
        _ = try connection.query("UPDATE \(schema).users SET primary_team_id = \(team) WHERE id = \(userID)")
    }
}
