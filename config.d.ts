export interface Config {
  /** Configuration of the lightspeed-mcp backend plugin. */
  lightspeedMcp: {
    /**
     * lightspeed-stack (LCS), the service Developer Lightspeed's backend sends
     * questions to in Red Hat Developer Hub: servers are registered through
     * its runtime API `/v1/mcp-servers` and put back after it restarts. Set
     * this or `llamaStack`, not both.
     */
    lightspeedStack?: {
      /**
       * Base URL of lightspeed-stack, without `/v1`, for example
       * `http://localhost:8080`.
       */
      baseUrl: string;
      /**
       * Sent as `Authorization: Bearer <token>` on every call; lightspeed-stack
       * must accept it for its MCP servers API.
       * @visibility secret
       */
      token?: string;
      /**
       * Time limit of each operation on lightspeed-stack. Default: 10 seconds.
       */
      timeout?:
        { milliseconds?: number; seconds?: number; minutes?: number } | string;
    };
    /**
     * The Llama Stack server whose toolgroups API (Llama Stack 0.2 - 0.6)
     * receives the MCP servers. Set this or `lightspeedStack`, not both.
     */
    llamaStack?: {
      /**
       * Base URL of Llama Stack, without `/v1`, for example
       * `http://localhost:8321`.
       */
      baseUrl: string;
      /**
       * Sent as `Authorization: Bearer <token>` on every call to Llama Stack.
       * @visibility secret
       */
      token?: string;
      /**
       * Time limit of each call to Llama Stack. Default: 10 seconds.
       */
      timeout?:
        { milliseconds?: number; seconds?: number; minutes?: number } | string;
      /**
       * Whether servers are registered as Llama Stack toolgroups: `auto`
       * (default) when Llama Stack has the toolgroups API (0.2 - 0.6; probed at
       * startup and on each reconcile), `enabled` always (a missing API is an
       * error), `disabled` never (servers are only stored, for GET
       * /v1/mcp-tools).
       */
      toolgroups?: 'auto' | 'enabled' | 'disabled';
    };
    /**
     * Llama Stack provider of servers that name none. Default:
     * `model-context-protocol`.
     */
    defaultProviderId?: string;
    /**
     * The reconciler, which brings Llama Stack in line with the database and
     * app-config.
     */
    reconcile?: {
      /**
       * How often it runs (one replica at a time). Default: 1 minute.
       */
      frequency?:
        | {
            milliseconds?: number;
            seconds?: number;
            minutes?: number;
            hours?: number;
          }
        | string;
      /**
       * How long one run may take. A replica that dies during a run holds the
       * task this long, so keep it short enough for recovery and long enough
       * for all servers. Default: 5 minutes.
       */
      timeout?:
        | {
            milliseconds?: number;
            seconds?: number;
            minutes?: number;
            hours?: number;
          }
        | string;
    };
    /**
     * Which MCP server addresses the plugin accepts and connects to (an SSRF
     * guard). It applies to every connection the plugin makes to an MCP server
     * (the connection check), on the address actually connected to after DNS
     * resolution and on every redirect, and to the URL of a server registered
     * or changed through the API (an IP address, or a name that resolves to a
     * refused address, is refused with 400; a name that does not resolve from
     * the backend is accepted). App-config servers are not checked at startup.
     *
     * Always refused, whatever is configured: link-local and cloud metadata
     * addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254). Without
     * `urlPolicy`, every other address is allowed, loopback and private ones
     * included, since MCP servers often live there.
     *
     * Each entry is a host name (`mcp.example.com`), a wildcard
     * (`*.example.com`, subdomains only), an IP address (`10.1.2.3`) or a CIDR
     * (`10.0.0.0/8`, `fd00::/8`).
     */
    urlPolicy?: {
      /**
       * When set, only hosts or addresses matching an entry pass. Default:
       * everything passes.
       */
      allow?: string[];
      /** Hosts or addresses refused; wins over `allow`. Default: none. */
      deny?: string[];
    };
    /**
     * The connection check of POST /v1/mcp-servers/{name}/check and of
     * `"check": true` at registration.
     */
    check?: {
      /**
       * Time limit of one check: connection, initialize and tools/list.
       * Default: 10 seconds.
       */
      timeout?:
        { milliseconds?: number; seconds?: number; minutes?: number } | string;
    };
    /**
     * The plugin's actions in Backstage's actions registry, which
     * `@backstage/plugin-mcp-actions-backend` offers AI agents as MCP tools.
     * `list-mcp-servers`, `get-mcp-server` and `check-mcp-server` are always
     * registered.
     */
    actions?: {
      /**
       * Also register `register-mcp-server` and `unregister-mcp-server`.
       * Default: false. An agent acts on text it reads (documents, tickets,
       * tool answers), and that text can tell it to register a server at a URL
       * of an attacker's choice, whose tools then reach every chat that uses
       * it, or to remove servers. The URL policy limits the addresses, not the
       * intent, and the actions run with the permissions of the user behind
       * the agent. Turn this on only where agents are trusted to change the
       * server list.
       */
      allowWrites?: boolean;
    };
    /**
     * Static MCP servers: listed with `source: "config"`, read-only through the
     * API, and registered in Llama Stack at startup when missing there.
     * Validated with the rules of the API.
     */
    mcpServers?: Array<{
      /** 1-128 characters; also the Llama Stack toolgroup id. */
      name: string;
      /** Absolute http:// or https:// URL of the MCP server. */
      url: string;
      /** Llama Stack provider; default `lightspeedMcp.defaultProviderId`. */
      providerId?: string;
      /**
       * Header name -> where its value comes from at query time. Values are
       * never stored.
       */
      authorizationHeaders?: {
        [header: string]: 'client' | 'kubernetes' | 'oauth';
      };
      /** Names of request headers to propagate at query time. */
      headers?: string[];
      /** Seconds, 1-3600. */
      timeout?: number;
      /**
       * The organization's token for this server, used for users who set no
       * personal token (MCP-HEADERS and validation). Never answered, logged
       * or sent to the upstream.
       * @visibility secret
       */
      token?: string;
    }>;
    /**
     * Encryption at rest of users' personal tokens (AES-256-GCM). The first
     * key encrypts, every key decrypts: to rotate, put a new key first and keep
     * the old ones until every token was set again. Without keys, personal
     * tokens are refused.
     */
    tokenEncryption?: {
      keys: Array<{
        /**
         * At least 32 characters.
         * @visibility secret
         */
        secret: string;
      }>;
    };
  };
}
