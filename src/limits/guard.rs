//! The guard: refuses abusive documents and charges the caller's budget before any
//! resolver runs, then refunds the estimate down to the actual cost.
//!
//! Order of checks, cheapest first: document size and brace nesting (before parsing, so a
//! hostile document cannot exhaust the parser), then on the parsed document depth,
//! aliases, root fields, directives and the cost estimate ([`analysis`]), then the budget.
//! Every refusal happens before execution, so it costs no SQL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::registry::Registry;
use async_graphql::{Request, Response, ServerError, ServerResult, Value, Variables};
use chrono::SecondsFormat;
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;

use super::analysis::{self, actual_cost, brace_depth, seconds_until, Analysis, Invalid};
use super::budget::{Budget, BudgetStatus};
use crate::config::Limits;
use crate::error::{coded_error, Code};
use crate::graphql::context::RequestInfo;
use crate::graphql::error_codes::code_of;
use crate::graphql::field_order::FieldOrder;

/// The smallest charge of a mutation: writes cost more than their response suggests.
pub const MUTATION_FLOOR: u32 = 10;
/// The smallest charge of a query or subscription.
pub const QUERY_FLOOR: u32 = 1;

/// The extension factory registered on the schema, and the same checks for
/// [`crate::graphql::Schemas::execute`], which runs them around a schema without extensions.
#[derive(Clone)]
pub struct Guard {
    limits: Arc<Limits>,
    budget: Arc<dyn Budget>,
    open: OpenSubscriptions,
}

/// Open subscriptions per budget key on this replica (the cap is per replica: a
/// subscription lives on the replica that holds its socket).
type OpenSubscriptions = Arc<Mutex<HashMap<String, usize>>>;

impl Guard {
    /// A guard enforcing `limits` and charging `budget`.
    pub fn new(limits: Arc<Limits>, budget: Arc<dyn Budget>) -> Self {
        Self {
            limits,
            budget,
            open: OpenSubscriptions::default(),
        }
    }

    /// The guard of one request.
    pub(crate) fn start(&self) -> GuardRun {
        GuardRun {
            limits: self.limits.clone(),
            budget: self.budget.clone(),
            open: self.open.clone(),
            state: Arc::default(),
        }
    }
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.start())
    }
}

#[derive(Default)]
struct RunState {
    operation_name: Option<String>,
    /// The request's caller, kept from `parse_query`: the `request` hook's context was
    /// made before the request's data was attached, so it cannot see it.
    info: Option<RequestInfo>,
    analysis: Option<Analysis>,
    /// The order of the admitted operation's fields, to put the response in it.
    field_order: Option<Arc<FieldOrder>>,
    /// Points charged up front (0 when nothing was charged).
    charged: u32,
    /// The budget key of the open subscription this run counts, if any.
    open_key: Option<String>,
    floor: u32,
}

/// One request's guard (async-graphql creates extensions per request); clones share it.
#[derive(Clone)]
pub(crate) struct GuardRun {
    limits: Arc<Limits>,
    budget: Arc<dyn Budget>,
    open: OpenSubscriptions,
    state: Arc<Mutex<RunState>>,
}

/// What admitting a plain request learnt of it from its text, operation name and
/// variables alone: remembered with the validation memo, so the next such request is
/// neither analysed nor planned again (together ~1.8% of deep's instructions).
#[derive(Clone, Debug)]
pub(crate) struct Admission {
    analysis: Arc<Analysis>,
    field_order: Option<Arc<FieldOrder>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl GuardRun {
    fn state(&self) -> std::sync::MutexGuard<'_, RunState> {
        lock(&self.state)
    }

    /// Counts a new subscription of `key` against the per-token cap.
    fn open_subscription(&self, key: &str) -> ServerResult<()> {
        let mut open = lock(&self.open);
        let count = open.entry(key.to_owned()).or_default();
        if *count >= self.limits.max_subscriptions {
            if let Some(metrics) = crate::metrics::get() {
                metrics
                    .rate_limited
                    .with_label_values(&["subscriptions"])
                    .inc();
            }
            return Err(coded_error(
                Code::RateLimited,
                format!(
                    "{} subscriptions are open for this token; the limit is {}",
                    *count, self.limits.max_subscriptions
                ),
            ));
        }
        *count += 1;
        drop(open);
        self.state().open_key = Some(key.to_owned());
        Ok(())
    }

    /// The document-level limits; `Err` is the refusal.
    fn check(&self, analysis: &Analysis) -> Result<(), ServerError> {
        let l = &self.limits;
        let counts = [
            (
                analysis.depth,
                l.max_depth,
                Code::QueryTooDeep,
                "levels of nesting",
            ),
            (
                analysis.aliases,
                l.max_aliases,
                Code::QueryTooComplex,
                "aliases",
            ),
            (
                analysis.root_fields,
                l.max_root_fields,
                Code::QueryTooComplex,
                "root fields",
            ),
            (
                analysis.directives,
                l.max_directives,
                Code::QueryTooComplex,
                "directives",
            ),
        ];
        for (found, limit, code, what) in counts {
            if found > limit {
                return Err(coded_error(
                    code,
                    format!("the query has {found} {what}; the limit is {limit}"),
                ));
            }
        }
        if analysis.estimate > l.max_complexity as u64 {
            let mut err = coded_error(
                Code::QueryTooComplex,
                format!(
                    "the query may cost {} points; the limit is {}",
                    analysis.estimate, l.max_complexity
                ),
            );
            if let Some(ext) = err.extensions.as_mut() {
                ext.set("cost", analysis.estimate);
                ext.set("maxCost", l.max_complexity as u64);
            }
            return Err(err);
        }
        Ok(())
    }
    /// Parses, checks and charges one document; `Err` is the refusal.
    async fn admit(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        precheck(query, &self.limits)?;
        let document = next.run(ctx, query, variables).await.map_err(|mut err| {
            // async-graphql's own recursion limit runs inside parsing, before our analysis:
            // give its refusal the code our analysis would have given.
            if err.message.contains("recursion depth") {
                let cyclic = async_graphql::parser::parse_query(query)
                    .is_ok_and(|doc| analysis::has_fragment_cycle(&doc));
                err = coded_error(
                    if cyclic {
                        Code::GraphqlValidationFailed
                    } else {
                        Code::QueryTooDeep
                    },
                    if cyclic {
                        "a fragment spreads itself"
                    } else {
                        "the query is nested too deep"
                    },
                );
            }
            err
        })?;
        // No such operation: execution reports it.
        let Some(analysis) = self.analyze(&ctx.schema_env.registry, &document, variables)? else {
            return Ok(document);
        };
        self.admit_analysed(ctx.data_opt::<RequestInfo>(), analysis)
            .await?;
        Ok(document)
    }

    /// The analysis of the operation the request names, checked against the limits;
    /// `Ok(None)` when the document has no such operation.
    fn analyze(
        &self,
        registry: &Registry,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> ServerResult<Option<Analysis>> {
        let operation_name = self.state().operation_name.clone();
        let analysis =
            match analysis::analyze(registry, document, operation_name.as_deref(), variables) {
                Ok(Some(analysis)) => analysis,
                Ok(None) => return Ok(None),
                Err(Invalid::FragmentCycle(name)) => {
                    return Err(coded_error(
                        Code::GraphqlValidationFailed,
                        format!("fragment {name:?} spreads itself"),
                    ))
                }
                Err(Invalid::UnknownFragment(name)) => {
                    return Err(coded_error(
                        Code::GraphqlValidationFailed,
                        format!("unknown fragment {name:?}"),
                    ))
                }
            };
        self.check(&analysis)?;
        Ok(Some(analysis))
    }

    /// Opens the subscription slot and charges the caller for an analysed document.
    async fn admit_analysed(
        &self,
        info: Option<&RequestInfo>,
        analysis: Analysis,
    ) -> ServerResult<()> {
        if let Some(info) = info {
            self.state().info = Some(info.clone());
            if analysis.kind == Some(OperationType::Subscription) {
                self.open_subscription(&info.budget_key)?;
            }
            self.charge(info, &analysis).await?;
        }
        self.state().analysis = Some(analysis);
        Ok(())
    }

    /// Admits a query or mutation that needs nothing but its charge: analysed, within the
    /// limits, not a dry run. `None` for anything else (a refusal, a dry run, a
    /// subscription, no such operation), which the caller leaves to the extension path so
    /// each refusal has one implementation. `Some(Err)` is a budget refusal; `Some(Ok)`
    /// holds what the admission learnt of the request, for [`GuardRun::admit_known`].
    pub(crate) async fn admit_plain(
        &self,
        registry: &Registry,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
        info: &RequestInfo,
    ) -> Option<ServerResult<Admission>> {
        // async-graphql would refuse it while parsing, before any analysis.
        if analysis::exceeds_recursion_limit(document) {
            return None;
        }
        self.state().operation_name = operation_name.map(str::to_owned);
        let analysis = self.analyze(registry, document, variables).ok().flatten()?;
        if analysis.dry_run || analysis.kind == Some(OperationType::Subscription) {
            return None;
        }
        let admission = Admission {
            field_order: FieldOrder::of(document, operation_name).map(Arc::new),
            analysis: Arc::new(analysis),
        };
        Some(
            self.admit_known(&admission, operation_name, info)
                .await
                .map(|()| admission),
        )
    }

    /// Admits a request [`GuardRun::admit_plain`] admitted before with the same text,
    /// operation name and variables (its analysis and field order depend on nothing
    /// else, the limits being the process's): only the charge is new.
    pub(crate) async fn admit_known(
        &self,
        admission: &Admission,
        operation_name: Option<&str>,
        info: &RequestInfo,
    ) -> ServerResult<()> {
        self.state().operation_name = operation_name.map(str::to_owned);
        self.admit_analysed(Some(info), Analysis::clone(&admission.analysis))
            .await?;
        self.state().field_order = admission.field_order.clone();
        Ok(())
    }

    /// Keeps the order of the operation's fields, to put its response in it. A
    /// subscription's events are not reordered: no plan kept while it is open.
    fn plan_order(&self, document: &ExecutableDocument) {
        let mut state = self.state();
        let kind = state.analysis.as_ref().and_then(|a| a.kind);
        if kind != Some(OperationType::Subscription) {
            state.field_order =
                FieldOrder::of(document, state.operation_name.as_deref()).map(Arc::new);
        }
    }

    /// Puts an executed response's fields in the order the operation asked for them.
    pub(crate) fn order(&self, response: &mut Response) {
        let field_order = self.state().field_order.take();
        if let Some(field_order) = field_order {
            field_order.apply(&mut response.data);
        }
    }

    /// Charges the estimate (at least the floor) up front; a dry run only prices.
    async fn charge(&self, info: &RequestInfo, analysis: &Analysis) -> ServerResult<()> {
        let floor = if analysis.kind == Some(OperationType::Mutation) {
            MUTATION_FLOOR
        } else {
            QUERY_FLOOR
        };
        let estimate = u32::try_from(analysis.estimate).unwrap_or(u32::MAX);
        let cost = estimate.max(floor);
        if analysis.dry_run {
            let mut status = self.budget.peek(&info.budget_key).await;
            status.cost = cost;
            record(info, status);
            return Ok(());
        }
        if let Some(metrics) = crate::metrics::get() {
            metrics.operation_cost.observe(f64::from(cost));
        }
        let status = self.budget.charge(&info.budget_key, cost).await;
        record(info, status);
        if !status.allowed {
            if let Some(metrics) = crate::metrics::get() {
                metrics.rate_limited.with_label_values(&["budget"]).inc();
            }
            let wait = seconds_until(status.reset_at).max(1);
            let mut err = coded_error(
                Code::RateLimited,
                format!(
                    "this operation costs {cost} points and {} remain; the budget refills in {wait} s",
                    status.remaining
                ),
            );
            if let Some(ext) = err.extensions.as_mut() {
                ext.set("cost", cost);
                ext.set("remaining", status.remaining);
                ext.set("retryAfter", wait);
            }
            return Err(err);
        }
        let mut state = self.state();
        state.charged = cost;
        state.floor = floor;
        Ok(())
    }
}

/// The checks on a document's text, before anything parses it: its length, and its brace
/// nesting (which bounds field nesting from above; argument objects add a few), so a
/// hostile document cannot exhaust the parser.
pub fn precheck(query: &str, limits: &Limits) -> Result<(), ServerError> {
    if query.len() > limits.max_query_bytes {
        return Err(coded_error(
            Code::QueryTooComplex,
            format!(
                "the document is {} bytes; the limit is {}",
                query.len(),
                limits.max_query_bytes
            ),
        ));
    }
    if brace_depth(query) > limits.max_depth + 8 {
        return Err(coded_error(
            Code::QueryTooDeep,
            format!(
                "the query is nested deeper than the limit of {}",
                limits.max_depth
            ),
        ));
    }
    Ok(())
}

/// Records the caller's budget where the HTTP layer and `rateLimit` read it.
fn record(info: &RequestInfo, status: BudgetStatus) {
    *info.budget.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
}

#[async_trait::async_trait]
impl Extension for GuardRun {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.state().operation_name = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        match self.admit(ctx, query, variables, next).await {
            Ok(document) => {
                self.plan_order(&document);
                Ok(document)
            }
            Err(error) => {
                // A refused document still costs its parsing: the floor, so a flood of
                // garbage drains the sender's budget too (a budget refusal is not charged).
                if code_of(&error).as_deref() != Some(Code::RateLimited.as_str()) {
                    if let Some(info) = ctx.data_opt::<RequestInfo>() {
                        record(
                            info,
                            self.budget.charge(&info.budget_key, QUERY_FLOOR).await,
                        );
                    }
                }
                Err(error)
            }
        }
    }

    /// Subscriptions pay when they start (in `parse_query`) and then for every event they
    /// deliver (its objects, at least 1); an event over budget is replaced by a
    /// `RATE_LIMITED` error. The stream's end releases its slot under the per-token cap.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let slot = Arc::new(SubscriptionSlot {
            open: self.open.clone(),
            state: self.state.clone(),
        });
        let run = self.clone();
        next.run(ctx, stream)
            .then(move |mut response| {
                let (run, slot) = (run.clone(), slot.clone());
                async move {
                    let _slot = slot;
                    let (info, kind) = {
                        let state = run.state();
                        (
                            state.info.clone(),
                            state.analysis.as_ref().and_then(|a| a.kind),
                        )
                    };
                    // A query or mutation sent over the socket settles as over HTTP: its
                    // one response refunds the estimate down to the actual cost.
                    if kind != Some(OperationType::Subscription) {
                        run.settle(&mut response).await;
                        return response;
                    }
                    if let (Some(info), true) = (info, response.errors.is_empty()) {
                        let cost = u32::try_from(actual_cost(&response.data))
                            .unwrap_or(u32::MAX)
                            .max(QUERY_FLOOR);
                        let status = run.budget.charge(&info.budget_key, cost).await;
                        if !status.allowed {
                            response = Response::from_errors(vec![coded_error(
                                Code::RateLimited,
                                "the budget cannot pay for this event; it was dropped",
                            )]);
                        }
                    }
                    response
                }
            })
            .boxed()
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let dry_run = self
            .state()
            .analysis
            .as_ref()
            .filter(|a| a.dry_run)
            .map(|a| a.rate_limit_fields.clone());
        match dry_run {
            // Priced, not run: answer only `rateLimit`.
            Some(fields) => {
                let info = self.state().info.clone();
                let status = info.as_ref().and_then(RequestInfo::budget_status);
                Response::new(dry_run_data(&fields, status))
            }
            None => {
                let mut response = next.run(ctx, operation_name).await;
                self.order(&mut response);
                response
            }
        }
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        self.settle(&mut response).await;
        response
    }
}

impl GuardRun {
    /// Refunds the charge down to the response's actual cost and reports the cost in
    /// `extensions.cost`.
    pub(crate) async fn settle(&self, response: &mut Response) {
        let (charged, floor, estimate, info) = {
            let state = self.state();
            (
                state.charged,
                state.floor,
                state.analysis.as_ref().map(|a| a.estimate),
                state.info.clone(),
            )
        };
        let Some(info) = info.as_ref() else {
            return;
        };
        if charged > 0 {
            let actual = u32::try_from(actual_cost(&response.data))
                .unwrap_or(u32::MAX)
                .max(floor)
                .min(charged);
            let mut status = if actual < charged {
                self.budget.refund(&info.budget_key, charged - actual).await
            } else {
                self.budget.peek(&info.budget_key).await
            };
            status.cost = actual;
            record(info, status);
        }
        let status = *info.budget.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(estimate), Some(status)) = (estimate, status) {
            // What was charged up front: the estimate, raised to the operation's floor.
            let requested = if charged > 0 {
                u64::from(charged)
            } else {
                estimate
            };
            response.extensions.insert(
                "cost".into(),
                async_graphql::value!({
                    "requestedQueryCost": requested,
                    "actualQueryCost": status.cost,
                    "throttleStatus": {
                        "maximumAvailable": status.limit,
                        "currentlyAvailable": status.remaining,
                        "resetAt": status.reset_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    }
                }),
            );
        }
    }
}

/// Releases a subscription's place under the per-token cap when its stream ends.
struct SubscriptionSlot {
    open: OpenSubscriptions,
    state: Arc<Mutex<RunState>>,
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        let Some(key) = lock(&self.state).open_key.take() else {
            return;
        };
        let mut open = lock(&self.open);
        if let Some(count) = open.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// The data of a dry run: each `rateLimit` selection with the subfields it asked for.
fn dry_run_data(fields: &[(String, Vec<(String, String)>)], status: Option<BudgetStatus>) -> Value {
    let mut root = async_graphql::indexmap::IndexMap::new();
    for (key, subfields) in fields {
        let mut object = async_graphql::indexmap::IndexMap::new();
        for (sub_key, name) in subfields {
            let value = match (name.as_str(), status) {
                ("limit", Some(s)) => Value::from(s.limit),
                ("cost", Some(s)) => Value::from(s.cost),
                ("remaining", Some(s)) => Value::from(s.remaining),
                ("resetAt", Some(s)) => {
                    Value::from(s.reset_at.to_rfc3339_opts(SecondsFormat::Millis, true))
                }
                ("__typename", _) => Value::from("RateLimit"),
                _ => Value::Null,
            };
            object.insert(async_graphql::Name::new(sub_key), value);
        }
        root.insert(async_graphql::Name::new(key), Value::Object(object));
    }
    Value::Object(root)
}
