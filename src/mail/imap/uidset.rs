//! UID sets as IMAP writes them (`1:3,7,10:12`): turning a list of UIDs into the shortest
//! set string for a UID command, and reading the pairs of UIDs a COPYUID response code
//! (RFC 4315) reports. Pure; it never produces `*`, so a command built from it can only
//! name the UIDs it was given.

use async_imap::imap_proto::rfc4315::UidSetMember;

/// The UIDs as an IMAP UID set, ascending, duplicates dropped, runs written as ranges:
/// `[7, 1, 2, 3]` → `"1:3,7"`. Empty input gives an empty string; callers never send that.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    runs(&sorted)
        .into_iter()
        .map(|(first, last)| match first == last {
            true => first.to_string(),
            false => format!("{first}:{last}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The (source UID, new UID) pairs of a COPYUID response code, in order; `None` when the
/// two sets differ in size or together name more than `limit` UIDs (a server's answer is
/// not trusted to be small).
pub fn copy_uid_pairs(
    sources: &[UidSetMember],
    copies: &[UidSetMember],
    limit: usize,
) -> Option<Vec<(u32, u32)>> {
    let sources = expand(sources, limit)?;
    let copies = expand(copies, limit)?;
    (sources.len() == copies.len()).then(|| sources.into_iter().zip(copies).collect())
}

/// The UIDs of a set in the order written, or `None` past `limit` UIDs.
fn expand(set: &[UidSetMember], limit: usize) -> Option<Vec<u32>> {
    let mut uids = Vec::new();
    for member in set {
        // imap-proto writes every range low..=high (RFC 4315: 4:2 means 2:4).
        let (low, high) = match member {
            UidSetMember::Uid(uid) => (*uid, *uid),
            UidSetMember::UidRange(range) => (*range.start(), *range.end()),
        };
        if low > high || uids.len() + (high - low) as usize >= limit {
            return None;
        }
        uids.extend(low..=high);
    }
    Some(uids)
}

/// Consecutive runs of a sorted, duplicate-free list, as (first, last) pairs.
fn runs(sorted: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &uid in sorted {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(uid) => *last = uid,
            _ => runs.push((uid, uid)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_become_the_shortest_set() {
        let cases: [(&[u32], &str); 8] = [
            (&[], ""),
            (&[5], "5"),
            (&[1, 2, 3], "1:3"),
            (&[7, 1, 2, 3], "1:3,7"),
            (&[3, 3, 1, 2, 2], "1:3"),
            (&[1, 3, 5], "1,3,5"),
            (&[10, 11, 12, 1, 4, 5], "1,4:5,10:12"),
            (&[u32::MAX, u32::MAX - 1, 1], "1,4294967294:4294967295"),
        ];
        for (uids, want) in cases {
            assert_eq!(uid_set(uids), want, "{uids:?}");
        }
    }

    #[test]
    fn copyuid_sets_pair_up_in_order() {
        use UidSetMember::{Uid, UidRange};
        let pairs = copy_uid_pairs(&[Uid(4), UidRange(7..=8)], &[UidRange(20..=22)], 10);
        assert_eq!(pairs, Some(vec![(4, 20), (7, 21), (8, 22)]));
    }

    #[test]
    fn copyuid_sets_of_other_sizes_or_huge_ones_are_not_trusted() {
        use UidSetMember::{Uid, UidRange};
        assert_eq!(copy_uid_pairs(&[Uid(1), Uid(2)], &[Uid(9)], 10), None);
        assert_eq!(
            copy_uid_pairs(&[UidRange(1..=u32::MAX)], &[UidRange(1..=u32::MAX)], 1000),
            None
        );
        assert_eq!(copy_uid_pairs(&[], &[], 10), Some(vec![]));
    }
}
