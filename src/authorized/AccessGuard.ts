import {
  AuditorService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  ConditionalPolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import { Request } from 'express';
import { pluginErrorStatus } from '../mcpServers/errors';
import { ServerCondition } from '../permissions/conditions';

/**
 * Who calls, per call. `request`, when the call came over HTTP, lets audit
 * events record the caller's address too; without one (an action), the event
 * names the caller in its `meta`.
 */
export interface CallOptions {
  credentials: BackstageCredentials;
  request?: Request;
}

export interface AccessGuardOptions {
  permissions: PermissionsService;
  auditor: AuditorService;
  /**
   * Turns a conditional decision into a database filter and an in-memory test.
   */
  toCondition(decision: ConditionalPolicyDecision): ServerCondition;
}

/**
 * Permission decisions and audit events, for every authorized service of the
 * plugin.
 */
export class AccessGuard {
  constructor(private readonly options: AccessGuardOptions) {}

  /** Throws 403 unless the permission is granted outright. */
  async authorize(
    credentials: BackstageCredentials,
    permission: BasicPermission,
  ): Promise<void> {
    const [decision] = await this.options.permissions.authorize(
      [{ permission }],
      {
        credentials,
      },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `Permission '${permission.name}' is not granted`,
      );
    }
  }

  /**
   * Throws 403 when denied; resolves the condition to apply, or undefined when
   * everything is allowed.
   */
  async authorizeConditional(
    credentials: BackstageCredentials,
    permission: ResourcePermission,
  ): Promise<ServerCondition | undefined> {
    const [decision] = await this.options.permissions.authorizeConditional(
      [{ permission }],
      { credentials },
    );
    if (decision.result === AuthorizeResult.DENY) {
      throw new NotAllowedError(
        `Permission '${permission.name}' is not granted`,
      );
    }
    return decision.result === AuthorizeResult.CONDITIONAL
      ? this.options.toCondition(decision)
      : undefined;
  }

  /**
   * Records the operation with the auditor, allowed or denied, succeeded or
   * failed. `meta` gets the server name once it is known, and a failure its
   * reason: the plugin's own fixed message, or a generic one for anything
   * unexpected, whose text (a driver's SQL, another service's answer) may carry
   * what an audit trail must not. The error middleware still logs those in
   * full.
   */
  async audited<T>(
    eventId: string,
    options: CallOptions,
    work: (meta: JsonObject) => Promise<T>,
  ): Promise<T> {
    const meta: JsonObject = options.request
      ? {}
      : { caller: principalRef(options.credentials) };
    const event = await this.options.auditor.createEvent({
      eventId,
      severityLevel: 'medium',
      request: options.request,
    });
    let result: T;
    try {
      result = await work(meta);
    } catch (error) {
      const reported = isPluginError(error)
        ? error
        : new Error('An internal error occurred');
      await event.fail({
        error: reported,
        meta: { ...meta, reason: reported.message },
      });
      throw error;
    }
    await event.success({ meta });
    return result;
  }
}

function isPluginError(error: unknown): error is Error {
  return pluginErrorStatus(error) !== undefined;
}

/** Who acts: the user's entity ref, or the calling service's subject. */
export function principalRef(credentials: BackstageCredentials): string {
  const principal = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  return principal.userEntityRef ?? principal.subject ?? principal.type;
}
