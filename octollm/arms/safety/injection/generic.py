"""Compositional rules: an injection's *parts* near each other, whatever the exact wording.

The phrase rules of ``rules.py`` and ``phrases.py`` name sentences attackers wrote; a fresh
held-out set (round 2, docs/benchmarks-screening.md) showed they caught 29 % of attacks worded
differently. These rules look instead for the parts an instruction to the model cannot do
without, within one sentence: a dismissing verb and the model's own rules; a show verb and
its hidden prompt; an addressee that is an AI followed by a colon; a tool-call structure
carrying a dangerous payload; a sensitive object sent to an address. They are ``high`` at
most, so by default they flag and never refuse on their own: a flag travels with the task to
the guardian and the judge, and costs the user nothing at the edge.

Benign look-alikes designed against: the user correcting their own message ("set aside *my*
previous request"), "don't forget the instructions", security writing in quotes (context
lowers it), tool documentation without a dangerous payload, shell one-liners in docs.
"""

from __future__ import annotations

from octollm.arms.safety.finding import Risk
from octollm.arms.safety.injection.rule import Rule, rx

H, M = Risk.HIGH, Risk.MEDIUM

_S = r"[^.!?\n\"“”]"  # within one sentence (and one quotation)
_DISMISS = (
    r"(?:ignore|disregard|forget|overlook|set\s+aside|pay\s+no\s+(?:attention|heed|mind)\s+to|skip|abandon"
    r"|discard|bypass|dismiss|scrap|cancel|drop|suspend|disable|turn\s+off|switch\s+off|circumvent"
    r"|(?:do\s+not|don't|no\s+longer|stop|never)\s+(?:follow|obey|apply|respect|honou?r|enforce)(?:ing)?)"
)
_QUAL = (
    r"(?:your|earlier|prior|previous|preceding|above|original|initial|old|usual|existing|standard"
    r"|normal|default|built-in|every|all|any|the\s+(?:system|operator|developer)'?s?)"
)
_NOUN = (
    r"(?:instructions?|rules?|guidance|guidelines?|directions?|directives?|checks|safeguards?"
    r"|restrictions?|constraints?|polic(?:y|ies)|filters?|prompt|programming|configuration|orders"
    r"|commands|guardrails|safety\s+\w+|content\s+\w+|limitations|principles|ethics)"
)
#: The user taking back their own words is not an attack.
_OWN = rx(
    r"\bmy\s+(?:\w+\s+){0,2}(?:instructions?|request|message|note|rules?|email|order)\b|\bI\s+(?:said|gave|sent|wrote|asked|mentioned)\b"
)
_AI = (
    r"(?:ai|a\.i\.|llms?|language\s+models?|chat\s?bots?|bots?|assistants?|agents?|models?"
    r"|(?:ai|automated|virtual)\s+(?:assistants?|agents?|reviewers?|screeners?|graders?|systems?|readers?))"
)
_DANGER = (
    r"(?:(?:curl|wget)\b[^|\n]{0,160}\|\s*(?:sudo\s+)?(?:ba|z|k)?sh\b|\brm\s+-rf\b|\bnc\s+(?:-\w+\s+)*-e\b"
    r"|\bdrop\s+table\b|\bdelete\s+from\b|/bin/(?:ba)?sh\b|\bchmod\s+\+x\b|/etc/(?:passwd|shadow|cron)"
    r"|\bid_rsa\b|\bmkfs\b|\btransfer_funds\b|\bsend_(?:email|money|funds)\b|\bexfiltrat\w*|evil\.)"
)
_SENSITIVE = (
    r"(?:conversation|chat\s+(?:log|history|transcript)|(?:message|chat|email)\s+history|session\s+(?:token|cookie|id)"
    r"|cookies|credentials?|passwords?|api\s+keys?|access\s+tokens?|secrets|id_rsa|\.ssh\b|\.env\b|private\s+keys?"
    r"|every\s+(?:reply|message|email|attachment)|all\s+(?:replies|messages|emails|attachments|files))"
)
_DEST = r"(?:https?://|\b[\w.+-]+@[\w-]+\.[a-z]{2,}\b|\bwebhook\b|\bshared\s+drive\b|\bpaste\w*\b|[?&]\w+=)"
_SHOW = (
    r"(?:show|display|print|output|copy(?:\s+out)?|reproduce|repeat|list|leak|reveal|disclose|dump|share"
    r"|give\s+me|tell\s+me|paste|recite|write\s+out|quote|spell\s+out|read\s+out)"
)

GENERIC: tuple[Rule, ...] = (
    # --- dismissing the model's own rules ----------------------------------------------------
    Rule("ignore_previous_instructions", "gen.dismiss_rules", H, 0.75, rx(
        r"\b" + _DISMISS + r"\b" + _S + r"{0,40}?\b" + _QUAL + r"\b" + _S + r"{0,30}?\b" + _NOUN + r"\b"
    ), unless=_OWN),
    Rule("ignore_previous_instructions", "gen.rules_void", H, 0.75, rx(
        r"\b" + _QUAL + r"\s+(?:\w+\s+){0,2}?" + _NOUN + r"\b" + _S + r"{0,50}?\b(?:(?:are|is|were|was|have\s+been|has\s+been|as)\s+"
        r"(?:now\s+)?(?:obsolete|void|cancell?ed|revoked|gone|lifted|removed|a\s+mistake|wrong|invalid|outdated|reset|wiped"
        r"|no\s+longer\s+\w+|not\s+(?:valid|binding|in\s+force))|(?:no\s+longer|don'?t|do\s+not)\s+(?:count|apply|matter))\b"
        r"|\b" + _NOUN + r"\s+(?:prior\s+to|before|above)\s+this\s+(?:line|message|point|sentence)\b"
        r"|\bwhatever\s+(?:your|the)\s+(?:operator|developer|system|admin\w*|creators?|owners?)\s+(?:told|said|instructed|asked)"
        r"|\b(?:your|the)\s+(?:configuration|programming|settings|rules|instructions|system\s+prompt)\s+(?:has|have)\s+been\s+"
        r"(?:reset|wiped|cleared|removed|disabled|deleted|updated\s+to\s+allow)"
    ), unless=_OWN),
    # --- an unrestricted model -----------------------------------------------------------------
    Rule("role_play_jailbreak", "gen.unrestricted_model", H, 0.75, rx(
        r"\b(?:no|zero|without(?:\s+any)?|free\s+(?:of|from))\s+(?:\w+\s+)?(?:filters?|filtering|restrictions?|content\s+polic(?:y|ies)"
        r"|safety\s+(?:rules|filters|polic\w+|guidelines|layer)|guardrails|censorship|ethical\s+guidelines|moderation)\b"
        r"(?=" + _S + r"{0,80}\b(?:you|ai|assistant|model|bot|mode|answer|respond|reply|session|operat\w+|continue|say)\b)"
        r"|\b(?:you|ai|assistant|model|chatbot|bot|version|one|mode|session)\b" + _S + r"{0,60}?\b(?:no|zero|without(?:\s+any)?)\s+"
        r"(?:\w+\s+)?(?:filters?|filtering|restrictions?|content\s+polic(?:y|ies)|guardrails|censorship|moderation)\b"
        r"|\b(?:unfiltered|unrestricted|uncensored|jailbr(?:oken|eak))\s+(?:\w+\s+)?(?:ai|assistant|model|chatbot|bot|version|one|mode|persona|debug\s+mode)\b"
        r"|\b(?:guidelines|rules|filters|restrictions|safety\s+\w+)\s+(?:were|have\s+been|has\s+been|are|is)\s+(?:deleted|removed|disabled|turned\s+off|lifted|gone|switched\s+off)"
        r"|\b(?:safety|content|moderation)\s+(?:layer|filters?|polic\w+|rules|checks)\s+(?:is\s+|are\s+|has\s+been\s+|have\s+been\s+)?(?:now\s+)?(?:disabled|off|removed|lifted|bypassed)\b"
        r"|\byou\s+are\s+(?:now\s+|hereby\s+)?(?:authori[sz]ed|allowed|permitted|free|cleared)\s+to\s+(?:ignore|bypass|disregard|break|skip|override)"
        r"|\bnever\s+(?:says?|answers?)\s+no\b|\balways\s+(?:says?|answers?)\s+yes\b"
        r"|\"(?:filters?|safety|moderation)\"\s*:\s*\"?(?:off|false|none|disabled)|\"allow_all\"\s*:\s*true"
    )),
    # --- showing the hidden prompt ---------------------------------------------------------------
    Rule("direct_prompt_extraction", "gen.show_hidden_prompt", H, 0.75, rx(
        r"\b" + _SHOW + r"\b" + _S + r"{0,40}?\b(?:your|the)\s+(?:\w+\s+){0,2}?(?:system\s+(?:prompt|message|instructions)"
        r"|(?:initial|hidden|original|secret|internal|starting|first|configuration|pre-?)\s*(?:prompt|instructions|rules|message)"
        r"|instructions\s+you\s+(?:were|have\s+been)\s+given|every\s+rule\s+in\s+your)"
        r"|\b(?:text|words|content|everything|what)\s+(?:\w+\s+)?(?:appears?|is|was|came|comes|sits)\s+(?:written\s+)?(?:before|above)\s+"
        r"(?:my|this|the)\s+(?:first\s+)?(?:message|prompt|question)"
        r"|\b(?:list|number|enumerate)\b" + _S + r"{0,30}\brules?\s+in\s+your\s+system"
    )),
    # --- sending something sensitive somewhere ---------------------------------------------------
    Rule("data_exfiltration", "gen.send_sensitive", H, 0.75, rx(
        r"\b(?:send|post|upload|forward|bcc|cc|e-?mail|transmit|exfiltrate|append|encode|leak|copy|submit)\b" + _S + r"{0,60}?\b"
        + _SENSITIVE + r"\b" + _S + r"{0,60}?" + _DEST
        + r"|\b(?:bcc|cc|forward)\s+(?:every|all)\s+(?:\w+\s+){0,3}?to\s+[\w.+-]+@"
        r"|!\[[^\]]*\]\([^)\s]*[?&][\w-]+=\)"
        r"|\b(?:user|customer|client)'?s?\s+(?:\w+\s+)?(?:address|email|data|token|password|messages?|details)\s+(?:appended|added|encoded)\s+to\s+the\s+(?:url|link)"
        r"|\bupload\b" + _S + r"{0,40}?(?:~/\.ssh|id_rsa|/etc/passwd|\.env\b|private\s+key)"
    )),
    # --- instructions addressed to an AI inside content -----------------------------------------
    Rule("indirect_prompt_extraction", "gen.addressed_to_ai", H, 0.72, rx(
        r"\b(?:note|message|text|instructions?|reminder|notice|comment|memo|hidden\s+text)\s+(?:for|to)\s+(?:any\s+|all\s+|the\s+)?"
        + _AI + r"\s*(?:\w+ing\s+this\s+\w+\s*)?:"
        r"|\b(?:dear|attention|hey|hello)\s*,?\s+(?:the\s+)?" + _AI + r"\b"
        r"|\bto\s+the\s+" + _AI + r"\s+(?:that|who|which)\s+(?:is|are)\s+\w+ing\b"
        r"|\bif\s+(?:an?|any)\s+(?:\w+\s+)?" + _AI + r"\s+(?:reads|is\s+reading|processes|summari[sz]es|sees|parses|scans)\s+this\b"
        r"|\b(?:ai|automated|llm)\s+(?:reviewers?|screeners?|graders?|assistants?|agents?|systems?|readers?)\s+(?:must|should|need\s+to|are\s+(?:required|instructed|asked)\s+to)\b"
        r"|\b" + _AI + r"\s+(?:processing|reading|summari[sz]ing|handling|reviewing)\s+this\s+\w+\s*[,:]"
    )),
    # --- tool calls carrying a dangerous payload -------------------------------------------------
    Rule("command_injection", "gen.tool_call_payload", H, 0.78, rx(
        r"(?:<\s*(?:invoke|tool_call|function_call|tool_use|tool|function)\b|```\s*(?:tool|function|json)\b"
        r"|\"(?:function|tool|tool_name|name|action)\"\s*:\s*\"\w+\")[\s\S]{0,240}?" + _DANGER
        + r"|\b(?:execute|run|call|invoke|use|trigger)\b" + _S + r"{0,80}?\bwithout\s+(?:asking|any\s+confirmation|confirmation|confirming"
        r"|approval|telling|user\s+approval|permission|the\s+user'?s?\s+(?:consent|approval|knowledge))\b"
        r"|\b(?:call|use|invoke)\s+the\s+\w+\s+tool\b" + _S + r"{0,120}?(?:password|/etc/|cron|id_rsa|\bnc\s|/bin/sh|evil\.|token|credential)"
        r"|\btype\s+the\s+user'?s?\s+(?:saved\s+)?(?:password|credentials|pin)\b"
    )),
    Rule("delimiter_injection", "gen.fake_boundary", H, 0.78, rx(
        r"(?<![-=#*~])(?:-{3,}+|={3,}+|#{3,}+|\*{3,}+|~{3,}+)\s*+(?:end|begin|start)\s+(?:of\s+)?(?:the\s+)?(?:system|user|assistant|developer)?\s*"
        r"(?:prompt|instructions|input|context|message)s?\b"
        r"|<\|(?:system|user|assistant|im_start|im_end|endoftext|begin_of_text|end_of_text|eot_id|start_header_id|end_header_id)\|>"
        r"|<<\s*/?\s*SYS\s*>>"
    )),
    Rule("command_injection", "gen.sql_injection", H, 0.75, rx(
        r"'\s*\)?\s*;\s*(?:drop|delete|truncate|alter|update|insert|shutdown|exec)\b|'\s+or\s+'?1'?\s*=\s*'?1\b"
        r"|\bunion\s+(?:all\s+)?select\b[^\n]{0,60}\bfrom\b"
    )),
    # --- other users' data ----------------------------------------------------------------------
    Rule("memory_state_access", "gen.other_users_data", M, 0.7, rx(
        r"\b(?:list|show|tell|retrieve|give|dump|print|repeat|recall|reveal|what)\b" + _S + r"{0,50}?\b(?:other|previous|last|another|earlier|different)"
        r"\s+(?:users?|customers?|clients?|people|patients?|callers?)(?:'s?)?\b" + _S + r"{0,50}?\b(?:told|said|asked|wrote|shared|messages?"
        r"|conversations?|chats?|questions?|details|data|history|credit\s+card|names?|emails?|addresses)\b"
        r"|\b(?:credit\s+card|password|details|data)\b" + _S + r"{0,40}?\bfrom\s+your\s+memory\b"
    )),
)  # fmt: skip

# --- other languages: the same parts, per language -----------------------------------------------

_I_DISMISS = (
    r"(?:ignor\w*|disregard|forget|olvid\w*|esquec\w*|esquec|dimentic\w*|vergiss|vergessen|missacht\w*|oubli\w*"
    r"|ne\s+suis\s+plus|n'obei\w*\s+plus|ne\s+respecte\w*\s+plus|fais\s+abstraction|negeer\w*|vergeet|игнорир\w*|забудь\w*"
    r"|забуд\w*|zignoruj\w*|zapomnij\w*|yok\s+say\w*|unut\w*|görmezden\s+gel\w*|desconsider\w*|descart\w*|haz\s+caso\s+omiso)"
)
_I_RULES = (
    r"(?:rules?|instructions?|reglas|instrucciones|normas|regras|instruc\w*|regole|istruzioni|regeln|anweisungen|richtlinien"
    r"|sicherheitsrichtlinien|vorgaben|regles|consignes|directives|regels|instructies|richtlijnen|правил\w*|инструкци\w*"
    r"|указани\w*|instrukcj\w*|zasad\w*|polecen\w*|talimat\w*|kural\w*|yönerge\w*)"
)
_CJK_DISMISS = r"(?:忽略|忘记|忘掉|无视|無視|忘れ|무시|잊어)"
_CJK_RULES = r"(?:规则|指令|指示|说明|设定|ルール|規則|命令|지시|규칙|설정|명령)"
_NOT_NEGATED = rx(
    r"\bn'oubli|\bne\s+pas\s+oubli|\bno\s+olvides|\bnão\s+esque|\bnao\s+esque|\bnon\s+dimentic|\bvergiss\s+nicht|\bnicht\s+vergessen"
    r"|\bniet\s+vergeten|\bне\s+забуд|\bnie\s+zapomnij|不要忘记|别忘了|忘れないで|잊지\s*마"
)
_NOT_NEGATED_OR_OWN = rx(_NOT_NEGATED.pattern + "|" + _OWN.pattern)
_FROM_NOW = (
    r"(?:a\s+partir\s+de\s+(?:ahora|agora|maintenant)|da\s+(?:ora|adesso)\s+in\s+poi|ab\s+sofort|ab\s+jetzt|desormais|dorenavant"
    r"|vanaf\s+nu|отныне|с\s+этого\s+момента|теперь|od\s+teraz|od\s+tej\s+chwili|bundan\s+sonra|artık|从现在开始|从现在起|今から|これから|이제부터|지금부터)"
)
_RESTRICTIONS = (
    r"(?:filtr\w*|filter\w*|restric\w*|restriç\w*|restrizion\w*|einschrankung\w*|beperking\w*|sicherheitsrichtlinien|zensur|censur\w*"
    r"|ограничени\w*|фильтр\w*|ograniczen\w*|kısıtlama\w*|sınır\w*|限制|过滤|制限|フィルター|제한|필터)"
)
_SYSTEM_PROMPT = (
    r"(?:system\s?-?prompt\w*|prompt\s+(?:del|do|di|du)\s+sistem\w*|prompt\s+systeme|message\s+systeme|systeemprompt"
    r"|системн\w*\s+(?:промпт|подсказк\w*|инструкци\w*)|prompt\s+systemow\w*|sistem\s+(?:istemi|komut\w*)"
    r"|系统提示\w*|系统指令|システムプロンプト|システム指示|시스템\s?프롬프트|시스템\s?지시)"
)
_HIDDEN = r"(?:ocult\w*|nascost\w*|cache\w*|versteckt\w*|geheim\w*|verborgen\w*|скрыт\w*|ukryt\w*|gizli|隐藏|隠され|秘密|숨겨진)"
_I_SHOW = (
    r"(?:muestra\w*|muestr\w*|mostr\w*|revel\w*|rivel\w*|affiche\w*|montre\w*|donne|zeig\w*|gib|nenne|wiedergeben|ausgeben"
    r"|toon|laat\w*|geef|покажи|выведи|раскро\w*|pokaż|wyświetl|wyswietl|göster\w*|goster\w*|dimmi|dime|dame|dammi|diga|display|show"
    r"|print|显示|输出|告诉|表示|教え|出力|見せ|출력|보여|알려)"
)

GENERIC_INTL: tuple[Rule, ...] = (
    Rule("ignore_previous_instructions", "intl.dismiss_rules", H, 0.75, rx(
        r"\b" + _I_DISMISS + r"\b" + _S + r"{0,40}?\b" + _I_RULES + r"\b"
        r"|" + _CJK_RULES + r"[^。！？\n]{0,12}?" + _CJK_DISMISS + r"|" + _CJK_DISMISS + r"[^。！？\n]{0,12}?" + _CJK_RULES
    ), unless=_NOT_NEGATED_OR_OWN),
    Rule("role_play_jailbreak", "intl.from_now_unrestricted", H, 0.75, rx(
        r"\b" + _FROM_NOW + r"[^.!?。！？\n]{0,60}?" + _RESTRICTIONS
        + r"|\b(?:gelten|gilt)\s+(?:\w+\s+){0,2}(?:sicherheitsrichtlinien|regeln|richtlinien|anweisungen)\s+nicht\s+mehr"
    )),
    Rule("direct_prompt_extraction", "intl.show_system_prompt", H, 0.75, rx(
        r"\b" + _I_SHOW + r"[^.!?。！？\n]{0,60}?" + _SYSTEM_PROMPT + r"|" + _SYSTEM_PROMPT + r"[^.!?。！？\n]{0,40}?" + _I_SHOW
        + r"|" + _HIDDEN + r"[^.!?。！？\n]{0,30}?(?:sistem\w*|system\w*|системн\w*|系统|システム|시스템)"
        r"|(?:sistem\w*|system\w*|системн\w*)\s+(?:\w+\s+)?" + _HIDDEN
        + r"|\b(?:instrucciones|instru\w+|istruzioni|consignes|anweisungen|instructies|инструкци\w*|instrukcj\w*|talimat\w*)\s+"
        r"(?:ocult\w*|nascost\w*|cache\w*|versteckt\w*|verborgen\w*|скрыт\w*|ukryt\w*|gizli)"
    )),
    Rule("ignore_previous_instructions", "intl.obey_only_me", H, 0.72, rx(
        r"\b(?:uniquement|seulement|nur\s+noch|solo|só|soltanto|alleen\s+nog|только|tylko|sadece)\s+(?:a\s+|à\s+|mir|me|mij|мне|mnie|bana)\b"
        r"[^.!?\n]{0,20}?(?:obei\w*|gehorch\w*|obedec\w*|obbedisc\w*|gehoorzam\w*|подчин\w*|слушай\w*|słuchaj|itaat)"
        r"|\b(?:obei\w*|gehorch\w*|obedec\w*|obbedisc\w*)\b[^.!?\n]{0,30}?\b(?:uniquement|seulement|nur|solo|só|soltanto)\s+(?:a\s+|à\s+)?(?:moi|mir|mí|mim|me)\b"
    )),
)  # fmt: skip
