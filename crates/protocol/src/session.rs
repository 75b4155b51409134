//! The device side of sync, sans-IO: which request to make next, what a response means, and when to stop.
//!
//! A [`Replica`] is whatever keeps a copy of the records and an outbox (client-core's store; next, a base
//! camp's relay, whose replica will be the server's own storage). It makes requests from what it holds and applies answers;
//! [`run`] drives the conversation over any `send` (HTTP, the tests' in-memory network) and decides the rest: a
//! server that does not know the cursor is reconciled with once, pages are pulled until the server has no
//! more, and the outbox is pushed again while pushes make progress.

use crate::{ErrorCode, RejectionCode, SyncRequest, SyncResponse};

/// What keeps a copy of the records and talks to a server through a [`run`].
pub trait Replica {
    type Error;
    /// What a request carried, to be acknowledged when its answer arrives.
    type Sent;
    /// The next request: the outbox, the cursor, and reconcile digests or wanted records.
    fn next_request(&mut self) -> Result<(SyncRequest, Self::Sent), Self::Error>;
    /// Applies one answer, all or nothing: acknowledgements, refusals, pulled changes, the new cursor. Returns how
    /// many records changed.
    fn apply(
        &mut self,
        sent: &Self::Sent,
        request: &SyncRequest,
        response: &SyncResponse,
    ) -> Result<usize, Self::Error>;
    /// Drops the cursor and the server id, so that the next request reconciles with the server.
    fn forget_cursor(&mut self) -> Result<(), Self::Error>;
    /// Whether the outbox holds changes that may be pushed (not waiting on a refusal).
    fn has_pushable(&mut self) -> Result<bool, Self::Error>;
    /// Whether records are still wanted whole from the server (recovery).
    fn has_wanted(&mut self) -> Result<bool, Self::Error>;
    /// The conversation ended well.
    fn finished(&mut self) -> Result<(), Self::Error>;
}

/// An exchange that failed, as far as the session needs to know.
pub trait ExchangeError {
    /// The server answered `cursor_unknown`: it is new, or restored from a backup.
    fn is_cursor_unknown(&self) -> bool;
}

/// Progress after each exchange, for a long first sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncProgress {
    pub requests: usize,
    pub pushed: usize,
    pub pulled: usize,
    pub more: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    pub requests: usize,
    pub accepted: usize,
    /// Changes the server refused (kept in its quarantine), not those merely deferred.
    pub rejected: Vec<crate::Rejection>,
    pub pulled: usize,
    pub records_changed: usize,
    pub cursor: u64,
}

/// Why a sync stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionError<R, S> {
    /// The replica failed to make a request or apply an answer; what it applied before is kept.
    Replica(R),
    /// An exchange failed; everything answered before it is applied.
    Send(S),
}

/// Syncs until the server has nothing more: push the outbox, pull pages, apply each answer as it comes.
pub fn run<R: Replica, E: ExchangeError>(
    replica: &mut R,
    mut send: impl FnMut(&SyncRequest) -> Result<SyncResponse, E>,
    mut progress: impl FnMut(SyncProgress),
) -> Result<SyncReport, SessionError<R::Error, E>> {
    let mut report = SyncReport::default();
    let mut seen = SyncProgress::default();
    let mut reset_once = false;
    loop {
        let (request, sent) = replica.next_request().map_err(SessionError::Replica)?;
        let pushed: usize = request.push.iter().map(|d| d.changes.len()).sum();
        let response = match send(&request) {
            Err(e) if e.is_cursor_unknown() && !reset_once => {
                // The server does not know our cursor (a new or restored server): without a cursor, the next
                // request reconciles, so whatever that server lost is sent again.
                reset_once = true;
                replica.forget_cursor().map_err(SessionError::Replica)?;
                continue;
            }
            other => other.map_err(SessionError::Send)?,
        };
        let changed = replica
            .apply(&sent, &request, &response)
            .map_err(SessionError::Replica)?;
        report.requests += 1;
        report.accepted += response.accepted as usize;
        report.rejected.extend(
            response
                .rejected
                .iter()
                .filter(|r| r.code != RejectionCode::Deferred)
                .cloned(),
        );
        report.pulled += response.pull.iter().map(|d| d.changes.len()).sum::<usize>();
        report.records_changed += changed;
        report.cursor = response.cursor;
        seen = SyncProgress {
            requests: seen.requests + 1,
            pushed: seen.pushed + pushed,
            pulled: report.pulled,
            more: response.more,
        };
        progress(seen);
        // Stop when the server has no more pages, no wanted record is left to fetch, and the push made no
        // progress (every change pushed is acknowledged, refused, or deferred until its task arrives in a later
        // sync). A reconcile counts as progress: it may have put changes back in the outbox.
        let progressed = response.accepted > 0 || request.reconcile.is_some();
        let push_again = progressed && replica.has_pushable().map_err(SessionError::Replica)?;
        if !response.more && !push_again && !replica.has_wanted().map_err(SessionError::Replica)? {
            break;
        }
    }
    replica.finished().map_err(SessionError::Replica)?;
    Ok(report)
}

impl ExchangeError for ErrorCode {
    fn is_cursor_unknown(&self) -> bool {
        *self == ErrorCode::CursorUnknown
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{DocumentChanges, Rejection};
    use serde_bytes::ByteBuf;
    use uuid::Uuid;

    /// A replica in memory: an outbox of changes, a cursor, and what it was answered.
    #[derive(Default)]
    struct Memory {
        outbox: Vec<Vec<u8>>,
        cursor: u64,
        server: Option<Uuid>,
        pulled: Vec<Vec<u8>>,
        forgot: usize,
        finished: bool,
    }

    impl Replica for Memory {
        type Error = String;
        type Sent = usize;

        fn next_request(&mut self) -> Result<(SyncRequest, usize), String> {
            let mut request = SyncRequest::new(self.cursor, self.server);
            if !self.outbox.is_empty() {
                let changes = self.outbox.iter().cloned().map(ByteBuf::from).collect();
                request.push = vec![crate::PushedChanges {
                    record_id: Some(Uuid::nil()),
                    changes,
                }];
            }
            Ok((request, self.outbox.len()))
        }

        fn apply(&mut self, sent: &usize, _: &SyncRequest, response: &SyncResponse) -> Result<usize, String> {
            if response.rejected.is_empty() {
                self.outbox.drain(..*sent);
            }
            self.cursor = response.cursor;
            self.server = Some(response.server_id);
            for d in &response.pull {
                self.pulled.extend(d.changes.iter().map(|c| c.to_vec()));
            }
            Ok(response.pull.len())
        }

        fn forget_cursor(&mut self) -> Result<(), String> {
            self.forgot += 1;
            self.cursor = 0;
            self.server = None;
            Ok(())
        }

        fn has_pushable(&mut self) -> Result<bool, String> {
            Ok(!self.outbox.is_empty())
        }

        fn has_wanted(&mut self) -> Result<bool, String> {
            Ok(false)
        }

        fn finished(&mut self) -> Result<(), String> {
            self.finished = true;
            Ok(())
        }
    }

    fn answer(request: &SyncRequest, cursor: u64, more: bool, pull: Vec<u8>) -> SyncResponse {
        SyncResponse {
            version: crate::VERSION,
            server_id: Uuid::from_u128(1),
            accepted: request.push.iter().map(|p| p.changes.len() as u64).sum(),
            rejected: vec![],
            warnings: vec![],
            pull: vec![DocumentChanges::changes(Uuid::from_u128(2), vec![ByteBuf::from(pull)])],
            cursor,
            more,
            cursor_check: None,
            differ: vec![],
            device: None,
            pushed_through: 0,
            relayed_through: None,
            bundled_through: None,
        }
    }

    #[test]
    fn pages_are_pulled_until_the_server_has_no_more_and_the_outbox_goes_once() {
        let mut replica = Memory {
            outbox: vec![b"a".to_vec(), b"b".to_vec()],
            ..Memory::default()
        };
        let mut requests = Vec::new();
        let report = run(
            &mut replica,
            |request: &SyncRequest| -> Result<SyncResponse, ErrorCode> {
                requests.push(request.clone());
                let page = requests.len() as u64;
                Ok(answer(request, page * 10, page < 3, vec![page as u8]))
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(
            (report.requests, report.accepted, report.pulled, report.cursor),
            (3, 2, 3, 30)
        );
        assert_eq!(requests[0].push.len(), 1, "the outbox goes in the first request");
        assert!(
            requests[1].push.is_empty() && requests[2].push.is_empty(),
            "and only once"
        );
        assert_eq!(
            (requests[1].cursor, requests[2].cursor),
            (10, 20),
            "each page from the last cursor"
        );
        assert_eq!(replica.pulled, vec![vec![1], vec![2], vec![3]]);
        assert!(replica.finished);
    }

    #[test]
    fn an_unknown_cursor_is_forgotten_once_and_a_second_refusal_ends_the_sync() {
        let mut replica = Memory {
            cursor: 40,
            server: Some(Uuid::from_u128(9)),
            ..Memory::default()
        };
        let mut cursors = Vec::new();
        let error = run(
            &mut replica,
            |request: &SyncRequest| -> Result<SyncResponse, ErrorCode> {
                cursors.push(request.cursor);
                Err(ErrorCode::CursorUnknown)
            },
            |_| {},
        )
        .unwrap_err();
        assert_eq!(error, SessionError::Send(ErrorCode::CursorUnknown));
        assert_eq!(cursors, vec![40, 0], "retried once, without the cursor");
        assert_eq!(replica.forgot, 1);
        assert!(!replica.finished, "a sync that failed did not finish");
    }

    #[test]
    fn a_refused_push_is_not_pushed_again_in_the_same_sync() {
        let mut replica = Memory {
            outbox: vec![b"bad".to_vec()],
            ..Memory::default()
        };
        let mut requests = 0;
        let report = run(
            &mut replica,
            |request: &SyncRequest| -> Result<SyncResponse, ErrorCode> {
                requests += 1;
                let mut response = answer(request, 5, false, vec![]);
                response.accepted = 0;
                response.rejected = vec![Rejection {
                    record_id: Uuid::nil(),
                    changes: vec![],
                    code: RejectionCode::Invalid,
                    message: "breaks a rule".into(),
                    issues: vec![],
                }];
                Ok(response)
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(requests, 1, "no progress, so no second push");
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(replica.outbox.len(), 1, "the refused change stays in the outbox");
    }
}
