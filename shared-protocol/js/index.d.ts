// Types of the Arcane Realms JavaScript SDK (protocol version 8), for TypeScript users.
// The values are the messages in serde's JSON shape (see PROTOCOL.md): a unit enum
// variant is its name as a string, any other variant `{ Name: value }`.

/** A u64: a number up to 2^53 − 1, a bigint above. */
export type U64 = number | bigint;
export type NetId = number;

export const PROTOCOL_VERSION: 7;
export const MAX_CLIENT_FRAME: number;
export const MAX_SERVER_FRAME: number;
export const MAX_MESSAGES_PER_FRAME: number;
export const MAX_CHAT_BYTES: number;
export const VIEW_HISTORY: number;
export const Flags: Readonly<{ DEAD: 1; INVULNERABLE: 2; CASTING: 4; WINDUP: 8; RECOVERING: 16 }>;

export class CodecError extends Error {}

export type ClientTier = 'Mobile' | 'Desktop';
export type CastTarget = 'Caster' | { Entity: NetId } | { Point: { x_cm: number; y_cm: number } };
export type ChatChannel = 'Say' | 'Zone' | 'Party' | { Whisper: { to: string } };
export type SocialRequest =
  | 'Status' | 'PartyCreate' | 'PartyLeave'
  | { PartyInvite: { name: string } } | { PartyAccept: { party: string } }
  | { PartyDecline: { party: string } } | { PartyKick: { name: string } }
  | { PartyPromote: { name: string } } | { FriendAdd: { name: string } }
  | { FriendRemove: { name: string } } | { Block: { name: string } }
  | { Unblock: { name: string } } | { Mute: { name: string } } | { Unmute: { name: string } };
export type AdminCommand =
  | 'ResetArea'
  | { SpawnEnemy: { enemy: string; x_cm: number; y_cm: number } }
  | { SetHp: { target: NetId; hp: number } }
  | { Teleport: { target: NetId; x_cm: number; y_cm: number } }
  | { SetInvulnerable: { target: NetId; on: boolean } }
  | { SpawnCreature: { species: string; x_cm: number; y_cm: number; genes: [string, string][] } }
  | { SetCellPopulation: { species: string; x_cm: number; y_cm: number; count: number } }
  | { ShowCreature: { target: NetId; creature: U64 } }
  | { ShowCells: { x_cm: number; y_cm: number; radius_m: number } };

export type ClientMessage =
  | { Hello: { protocol_version: number; ticket: string; tier: ClientTier } }
  | { Input: { seq: number; dir_x: number; dir_y: number } }
  | { Ack: { snapshot_id: number } }
  | { Ping: { nonce: U64 } }
  | { Cast: { seq: number; slot: number; target: CastTarget } }
  | 'Respawn'
  | { Admin: { seq: number; command: AdminCommand } }
  | { Capture: { seq: number; target: NetId } }
  | { Breed: { seq: number; first: U64; second: U64 } }
  | 'RosterRequest'
  | { Chat: { channel: ChatChannel; text: string } }
  | { Social: SocialRequest };

export type EntityKind = 'Player' | 'Npc' | 'Enemy' | 'Projectile' | 'Creature';
export interface EntityState { kind: EntityKind; variant: number; x_cm: number; y_cm: number; hp_pct: number; flags: number }
export interface EntityEnter { local: number; net_id: NetId; state: EntityState }
/** Changed fields; `pos_delta` is the residual against the dead-reckoned position, `vel` a new velocity (cm per tick). */
export interface EntityUpdate {
  local: number; pos_delta: [number, number] | null; hp_pct: number | null; flags: number | null;
  vel: [number, number] | null;
}
export interface OwnState {
  hp: number; max_hp: number; mana: number; max_mana: number; ready_tick: number[];
  gcd_ready_tick: number; casting: [number, number] | null; respawn_tick: number | null;
  invulnerable_until: number;
}
export interface Snapshot {
  id: number; tick: number; baseline: number; last_input_seq: number;
  input_wait: { seq_back: number; wait_100us: number } | null;
  /** The zone's time rate in percent of real time (100 unless it dilates time). */
  time_rate: number;
  leaves: number[]; enters: EntityEnter[]; updates: EntityUpdate[]; own: OwnState | null;
}
export interface CreatureView {
  id: U64; species: string; generation: number; parents: [U64, U64] | null; gene_version: number;
  traits: { gene: string; value: string }[]; hatch_tick: number | null; breed_ready_tick: number;
}
export interface Welcome {
  protocol_version: number; zone_id: string; player: NetId; tick_rate_hz: number;
  bounds_cm: [number, number, number, number]; speed_cm_per_tick: number; content_version: U64;
  skills: string[]; creatures: { species: string[]; visible: [string, string[]][] };
}
export interface TelegraphView {
  area: { Circle: { radius_cm: number } } | { Cone: { length_cm: number; angle_decideg: number } }
    | { Line: { length_cm: number; width_cm: number } };
  x_cm: number; y_cm: number; facing_mrad: number;
}
export interface PartyMember { player_id: U64; name: string; leader: boolean; zone: string; hp: number; max_hp: number }
export type SocialEvent =
  | { Done: { request: string; detail: string } }
  | { Refused: { request: string; reason: string; detail: string } }
  | { Invited: { party: string; from: string } }
  | { Party: { id: string; members: PartyMember[] } | null }
  | { Presence: { name: string; zone: string } }
  | { Lists: { friends: { name: string; zone: string }[]; blocked: string[]; muted: string[] } };
export type EventKind =
  | { InputRejected: { seq: number; reason: 'InvalidDirection' | 'StaleSequence' | 'Flood' } }
  | { Notice: { text: string } }
  | { CastRejected: { seq: number; slot: number; reason: string } }
  | { CastStarted: { caster: NetId; slot: number; cast_ticks: number } }
  | { CastInterrupted: { caster: NetId; slot: number } }
  | { ProjectileSpawned: { projectile: NetId; caster: NetId; slot: number } }
  | { Damage: { source: NetId; target: NetId; amount: number; slot: number | null } }
  | { Healed: { source: NetId; target: NetId; amount: number } }
  | { Died: { entity: NetId; killer: NetId | null } }
  | { Respawned: { entity: NetId } }
  | { Telegraph: { enemy: NetId; telegraph: TelegraphView; windup_ticks: number } }
  | { AdminResult: { seq: number; ok: boolean; detail: string } }
  | { CaptureResult: { seq: number; target: NetId; outcome: { Captured: { creature: U64 } } | 'Escaped' | { Refused: string } } }
  | { BreedResult: { seq: number; outcome: { EggLaid: { egg: U64; hatch_tick: number } } | { Refused: string } } }
  | { Roster: { capacity: number; creatures: CreatureView[] } }
  | { RosterEntry: { creature: CreatureView } }
  | { Chat: { channel: ChatChannel; from_id: U64; from: string; text: string } }
  | { ChatRefused: { reason: string; detail: string } }
  | { Social: SocialEvent };
export interface ReliableEvent { tick: number; kind: EventKind }
export type KickReason =
  | 'VersionMismatch' | 'BadTicket' | 'TicketExpired' | 'WrongZone' | 'HandshakeFailed'
  | 'MalformedPackets' | 'TooManyViolations' | 'SlowClient' | 'Timeout' | 'DuplicateLogin'
  | 'ZoneFull' | 'ServerShutdown' | 'Redirected' | 'NotOwner' | 'Moderator';
export interface Redirect { zone_id: string; endpoint: string; ticket: string; quic_endpoint: string }
export type ServerMessage =
  | { Welcome: Welcome }
  | { Snapshot: Snapshot }
  | { Events: ReliableEvent[] }
  | { Kick: { reason: KickReason; detail: string } }
  | { Pong: { nonce: U64; tick: number } }
  | { Redirect: Redirect };

export function encodeClientFrame(messages: ClientMessage[]): Uint8Array;
export function decodeClientFrame(bytes: Uint8Array): ClientMessage[];
export function decodeServerMessage(bytes: Uint8Array): ServerMessage;
export function encodeServerMessage(message: ServerMessage): Uint8Array;
export function creatureVariant(variant: number): { species: number; visible: [number, number] };
export function ticketExpiry(ticket: string): number;

/** `vel`: centimetres per tick as the snapshots state it; positions are dead-reckoned by it. */
export interface ViewEntity { local: number; net_id: NetId; state: EntityState; vel: [number, number] }
export class ApplyError extends Error {
  kind: 'stale' | 'baseline_missing' | 'inconsistent';
}
export class ClientView {
  tick: number;
  lastInputSeq: number;
  /** The zone's time rate, a fraction of real time in (0, 1]: 1 unless it dilates time. */
  timeRate: number;
  currentId(): number;
  entities(): Map<number, ViewEntity>;
  own(): OwnState | null;
  entity(netId: NetId): ViewEntity | undefined;
  /** Applies a snapshot; throws ApplyError (nothing changed) when it cannot. */
  apply(snapshot: Snapshot): void;
}

export function step(pos: { x: number; y: number }, dirX: number, dirY: number, speedCmPerTick: number, bounds: number[]): void;
export function quantizeDirection(x: number, y: number): [number, number];
export class Predictor {
  pending: { seq: number; dx: number; dy: number }[];
  pos: { x: number; y: number } | null;
  lastCorrectionCm: number;
  reset(): void;
  input(seq: number, dx: number, dy: number, speed: number, bounds: number[], canMove: boolean): void;
  reconcile(serverX: number, serverY: number, lastInputSeq: number, speed: number, bounds: number[], canMove: boolean): void;
}
export class Interpolator {
  constructor(keep?: number);
  clear(): void;
  push(tick: number, entities: Iterable<ViewEntity>): void;
  at(netId: NetId, tick: number): { x: number; y: number } | null;
}

export interface ClientOptions {
  /** Base URL of the orchestrator's public API (login). */
  orchestrator?: string;
  name?: string;
  token?: string;
  party?: string;
  tier?: ClientTier;
  /** How far behind the newest snapshot others are drawn (default 100 ms). */
  interpolationMs?: number;
  /** Attempts after a dropped socket before giving up (default 6). */
  maxReconnects?: number;
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  now?: () => number;
}
export interface LoginResponse {
  player_id: number; zone_id: string; endpoint: string; ticket: string; expires_unix: number; quic_endpoint: string;
}
export class ClientError extends Error {
  /** The kick reason or HTTP status behind it. */
  reason?: string;
}
export interface RenderEntity extends EntityState { net_id: NetId; own: boolean }
export type ClientState = 'idle' | 'connecting' | 'playing' | 'moving' | 'closed';
export class ArcaneClient {
  constructor(options?: ClientOptions);
  readonly view: ClientView;
  readonly predictor: Predictor;
  readonly welcome: Welcome | null;
  readonly state: ClientState;
  readonly lastKick: { reason: KickReason; detail: string } | null;
  readonly rttMs: number;
  readonly snapshotRate: number;
  readonly stats: { snapshots: number; bytes: number; decodeErrors: number; baselineMisses: number; decodeMs: number };
  readonly loginResponse: LoginResponse | null;
  interpolationMs: number;
  on(event: 'welcome', fn: (w: Welcome) => void): () => void;
  on(event: 'snapshot', fn: (s: Snapshot) => void): () => void;
  on(event: 'event', fn: (e: ReliableEvent) => void): () => void;
  on(event: 'kick', fn: (k: { reason: KickReason; detail: string }) => void): () => void;
  on(event: 'redirect', fn: (r: Redirect) => void): () => void;
  on(event: 'pong', fn: (p: { nonce: U64; tick: number }) => void): () => void;
  on(event: 'state', fn: (s: ClientState) => void): () => void;
  on(event: 'reconnecting', fn: (r: { attempt: number; delay: number; relogin: boolean }) => void): () => void;
  on(event: 'error', fn: (e: Error) => void): () => void;
  on(event: 'closed', fn: (e: ClientError) => void): () => void;
  login(): Promise<Welcome>;
  connect(endpoint: string, ticket: string, expiresUnix?: number): Promise<Welcome>;
  renderTick(): number;
  renderEntities(): RenderEntity[];
  move(x: number, y: number): void;
  cast(slot: number, target?: CastTarget): number;
  respawn(): void;
  capture(netId: NetId): number;
  breed(first: U64, second: U64): number;
  requestRoster(): void;
  chat(channel: ChatChannel, text: string): void;
  social(request: SocialRequest): void;
  admin(command: AdminCommand): number;
  close(): void;
}
