//! The provider's messages: each computes a change on a copy and hands it to
//! `apply_change`.

use super::*;

impl Handler<Acquire> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: Acquire, ctx: &mut Context<Self>) {
        let now = Time::now();
        let mut next = self.state.clone();
        let mut events = Vec::new();
        let mut out = Vec::new();
        // A newer call from the same run supersedes its older parked one.
        let superseded = self.parked.take_run(&msg.call.head_sha);
        let result = next.acquire(&self.settings, &msg.call, now, &mut events);
        for w in superseded {
            out.push(Outgoing::Lease(
                w.reply,
                result.clone().map_err(ServiceError::from),
            ));
        }
        match result {
            Ok(a) if a.request.status == Status::Pending && !msg.wait.is_zero() => {
                self.parked.park(Waiter {
                    call: msg.call,
                    deadline: now.plus(msg.wait),
                    reply: msg.reply,
                });
            }
            other => out.push(Outgoing::Lease(
                msg.reply,
                other.map_err(ServiceError::from),
            )),
        }
        self.apply_change(next, events, out, now, ctx);
    }
}

impl Handler<Release> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: Release, ctx: &mut Context<Self>) {
        self.change(ctx, |state, now, events| {
            let result = state.release(&msg.head_sha, msg.outcome, msg.fencing_token, now, events);
            vec![Outgoing::Lease(
                msg.reply,
                result.map_err(ServiceError::from),
            )]
        });
    }
}

impl Handler<Clear> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: Clear, ctx: &mut Context<Self>) {
        self.change(ctx, |state, now, events| {
            state.clear(now, events);
            vec![Outgoing::View(msg.reply)]
        });
    }
}

impl Handler<RevokeLease> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: RevokeLease, ctx: &mut Context<Self>) {
        let now = Time::now();
        let mut next = self.state.clone();
        let mut events = Vec::new();
        match next.revoke_lease(msg.reason, &msg.by, now, &mut events) {
            Ok(_) => self.apply_change(next, events, vec![Outgoing::View(msg.reply)], now, ctx),
            Err(e) => {
                info!("{}: revoke asked by {} refused: {e}", self.key, msg.by);
                let _ = msg.reply.send(Err(e.into()));
            }
        }
    }
}

impl Handler<SetPaused> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: SetPaused, ctx: &mut Context<Self>) {
        let now = Time::now();
        let mut next = self.state.clone();
        let mut events = Vec::new();
        if !next.set_paused(msg.paused, &msg.by, now, &mut events) {
            let state = if msg.paused { "paused" } else { "not paused" };
            info!(
                "{}: {} asked by {}: already {state}, nothing changed",
                self.key,
                if msg.paused { "pause" } else { "resume" },
                msg.by
            );
        }
        // Resuming re-runs the election for parked callers at once (in `apply_change`).
        self.apply_change(next, events, vec![Outgoing::View(msg.reply)], now, ctx);
    }
}

impl Handler<Snapshot> for ProviderActor {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _: Snapshot, ctx: &mut Context<Self>) -> Self::Result {
        if self.forget_gone_callers() {
            self.schedule_housekeeping(ctx, Time::now());
        }
        MessageResult(self.snapshot(&self.state))
    }
}

impl Handler<Drain> for ProviderActor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut Context<Self>) {
        let now = Time::now();
        for w in self.parked.take_all() {
            let _ = w
                .reply
                .send(current_answer(&self.state, &self.settings, &w.call, now));
        }
        self.publish_gauges();
        self.schedule_housekeeping(ctx, Time::now());
    }
}

impl Handler<Abdicate> for ProviderActor {
    type Result = ();

    fn handle(&mut self, msg: Abdicate, ctx: &mut Context<Self>) {
        for w in self.parked.take_all() {
            let _ = w
                .reply
                .send(Err(ServiceError::NotOwner(msg.reason.clone())));
        }
        ctx.stop();
    }
}
