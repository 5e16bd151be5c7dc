// One week of a provider's life through a client generated from dayops' OpenAPI document:
// types from openapi-typescript, requests by openapi-fetch, compiled with `tsc --strict`.
//
//   npm ci && npm run generate && npm run build
//   DAYOPS_URL=http://127.0.0.1:8080 DAYOPS_COMMISSIONER_TOKEN=... DAYOPS_AUDITOR_TOKEN=... \
//   DAYOPS_PROVIDER_TOKEN_COMMAND="dayops token --role provider --provider-id" npm run scenario
//
// A council issues each provider its token; here the scenario mints one with the
// development command once it has created the provider.

import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/dayops.js";

type Schemas = components["schemas"];
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function client(token: string) {
  return createClient<paths>({
    baseUrl: env("DAYOPS_URL"),
    headers: { Authorization: `Bearer ${token}` },
  });
}

/** The body of an answer that must have `status`; anything else stops the run. */
function expect<T>(
  answer: { data?: T; error?: unknown; response: Response },
  status: number,
): T {
  if (answer.response.status !== status || answer.data === undefined) {
    throw new Error(
      `expected ${status}, got ${answer.response.status}: ${JSON.stringify(answer.error)}`,
    );
  }
  return answer.data;
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

async function main(): Promise<void> {
  const council = client(env("DAYOPS_COMMISSIONER_TOKEN"));
  const auditor = client(env("DAYOPS_AUDITOR_TOKEN"));
  const now = new Date();
  const today = now.toISOString().slice(0, 10);
  const weekday = (now.getUTCDay() + 6) % 7; // Monday is 0
  const monday = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - weekday - 7));
  const day = (n: number) => new Date(monday.getTime() + n * 86_400_000).toISOString().slice(0, 10);
  const tag = randomUUID().slice(0, 6).toUpperCase();

  // The council sets the provider up: provider, contract, rate matrix, agreements.
  const provider = expect(
    await council.POST("/v1/providers", { body: { name: `Meadow Day Centre ${tag}` } }),
    201,
  );
  const contractInput: Schemas["ContractInput"] = {
    reference: `NCC-TS-${tag}`,
    provider_id: provider.id,
    service_type: "building_based",
    start_date: "2025-01-06",
    need_bands: ["low", "medium", "high", "complex"],
    session_hours: { am: 3, pm: 3, full_day: 6 },
    capacity_per_session: 20,
    allows_extras: true,
    over_delivery_tolerance_pct: 10,
    register_deadline_days: 7,
    correction_window_days: 56,
    payment_period: "weekly",
    absence_policy: { chargeable_reasons: ["illness"], min_notice_hours: 24 },
    bank_holidays: [],
    annual_budget_pence: 100_000_000,
  };
  const contract = expect(await council.POST("/v1/contracts", { body: contractInput }), 201);
  const sessions: Schemas["RateCell"][] = (["am", "pm", "full_day"] as const).map((session_type) => ({
    item: "session",
    need_band: "*",
    session_type,
    day_category: "any",
    rate_pence: 5000,
  }));
  expect(
    await council.POST("/v1/contracts/{id}/rate-matrices", {
      params: { path: { id: contract.id } },
      body: { effective_from: "2025-01-06", cells: sessions },
    }),
    201,
  );
  const people = [`${tag}P1`, `${tag}P2`];
  const upserted = expect(
    await council.PUT("/v1/contracts/{id}/agreements", {
      params: { path: { id: contract.id } },
      body: {
        agreements: people.map((person_ref) => ({
          person_ref,
          need_bands: [{ from: "2025-01-06", band: "medium" as const }],
          planned_sessions: [{ weekday: "monday" as const, session_type: "am" as const }],
          start_date: "2025-01-06",
          pathway: "therapeutic" as const,
        })),
      },
    }),
    200,
  );
  check(upserted.created === 2, `two agreements created: ${JSON.stringify(upserted)}`);

  // The provider posts its week. The Idempotency-Key makes a retry safe.
  const [command, ...args] = env("DAYOPS_PROVIDER_TOKEN_COMMAND").split(" ");
  const token = execFileSync(command ?? "", [...args, provider.id], { encoding: "utf8" }).trim();
  const centre = client(token);
  const register: Schemas["RegisterInput"] = {
    contract_id: contract.id,
    period_start: day(0),
    period_end: day(6),
    lines: [
      { person_ref: people[0] ?? "", date: day(0), session_type: "am", status: "attended", outcome_tags: ["wellbeing"] },
      // The second person was planned on Monday too: leaving the line out is REG-001.
    ],
  };
  const key = randomUUID();
  const created = await centre.POST("/v1/registers", {
    params: { header: { "Idempotency-Key": key } },
    body: register,
  });
  const receipt = expect(created, 201);
  const codes = receipt.validation.findings.map((f) => f.code);
  check(codes.includes("REG-001"), `REG-001 expected: ${codes.join(", ")}`);
  const replay = expect(
    await centre.POST("/v1/registers", { params: { header: { "Idempotency-Key": key } }, body: register }),
    201,
  );
  check(replay.id === receipt.id, "the same key answers the same receipt");

  // Its findings, then an amendment that adds the missing line, with If-Match.
  const current = await centre.GET("/v1/registers/{id}", { params: { path: { id: receipt.id } } });
  expect(current, 200);
  const etag = current.response.headers.get("ETag") ?? "";
  register.lines.push({ person_ref: people[1] ?? "", date: day(0), session_type: "am", status: "attended", community_access: true });
  const amended = expect(
    await centre.PUT("/v1/registers/{id}", {
      params: { path: { id: receipt.id }, header: { "If-Match": etag } },
      body: register,
    }),
    200,
  );
  check(amended.version === 2 && amended.status === "accepted", `amended: ${JSON.stringify(amended)}`);

  // The claim: drafted from the register, submitted, decided and paid.
  const draft = expect(
    await centre.POST("/v1/claims/draft", {
      params: { query: { contract_id: contract.id, period_start: day(0) } },
    }),
    200,
  );
  const claim = expect(
    await centre.POST("/v1/claims", { params: { header: { "Idempotency-Key": randomUUID() } }, body: draft }),
    201,
  );
  check(claim.status === "accepted", `claim: ${claim.status}`);
  const decided = expect(
    await council.POST("/v1/claims/{id}/decision", {
      params: { path: { id: claim.id } },
      body: { decision: "approve", reason: "matches the register" },
    }),
    200,
  );
  check(decided.status === "approved", `decided: ${decided.status}`);
  const paid = expect(
    await council.POST("/v1/claims/{id}/payment", {
      params: { path: { id: claim.id } },
      body: { remittance_ref: `BACS-${tag}`, paid_on: today },
    }),
    200,
  );
  check(paid.status === "paid", `paid: ${paid.status}`);

  // The auditor has a checkpoint signed (it takes in every event recorded so far), reads
  // the claim's trail, and exports the contract's submissions as CSV.
  const checkpoint = expect(await auditor.POST("/v1/audit/checkpoint"), 200);
  check(checkpoint.tree_size > 0, `checkpoint: ${JSON.stringify(checkpoint)}`);
  const events = expect(
    await auditor.GET("/v1/audit-events", { params: { query: { entity_id: claim.id } } }),
    200,
  );
  const actions = events.items.map((e) => e.action);
  check(["create", "approve", "pay"].every((a) => actions.includes(a)), `actions: ${actions.join(", ")}`);
  const csv = expect(
    await auditor.GET("/v1/submissions/export.csv", {
      params: { query: { contract_id: contract.id } },
      parseAs: "text",
    }),
    200,
  );
  check(csv.trim().split("\n").length === 3, `a header, the register and the claim: ${csv}`);

  // The quarter's workbook: the council's template down, and up again as it is.
  const fy = monday.getUTCMonth() >= 3 ? monday.getUTCFullYear() : monday.getUTCFullYear() - 1;
  const quarter = `${fy}-Q${Math.floor(((monday.getUTCMonth() + 9) % 12) / 3) + 1}`;
  const template = expect(
    await centre.GET("/v1/workbooks/template", {
      params: { query: { contract_id: contract.id, quarter } },
      parseAs: "arrayBuffer",
    }),
    200,
  );
  const bytes = new Uint8Array(template);
  check(bytes[0] === 0x50 && bytes[1] === 0x4b, "an XLSX file is a zip");
  const workbook = expect(
    await centre.POST("/v1/workbooks", {
      params: { header: { "Idempotency-Key": randomUUID() } },
      headers: { "Content-Type": XLSX },
      // The spreadsheet goes as it is: no JSON serialisation.
      body: bytes as unknown as Schemas["XlsxFile"],
      bodySerializer: (body: unknown) => body as BodyInit,
    }),
    201,
  );
  console.log(
    `typescript: register ${receipt.id} v${amended.version}, claim ${claim.id} ${paid.status}, ` +
      `${actions.length} audit events, workbook ${workbook.id} ${workbook.status}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
