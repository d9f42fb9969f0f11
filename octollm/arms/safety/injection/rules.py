"""English and structure-aware rules, grouped by OctoLLM's 14 injection families.

Severities follow OctoLLM's reflex layer (overriding instructions, forged system roles and
DAN variants critical; extraction, delimiters, commands, templates and exfiltration high;
role-play, nested prompts, encodings and memory access medium), but a rule may rank its
match higher or lower than its family when the wording makes intent clear.

Benign look-alikes shaped these rules as much as attacks did: "summarise the text above",
"disregard my previous instructions about the address", "from now on use metric units",
``curl ... | sh`` in install docs, ``{{ config.SITE_NAME }}``, README badges with query
strings and ``[SYSTEM] backup completed`` log lines must pass.
"""

from __future__ import annotations

import re

from octollm.arms.safety.finding import Risk
from octollm.arms.safety.injection.rule import Rule, rx, with_needs

C, H, M = Risk.CRITICAL, Risk.HIGH, Risk.MEDIUM

_IGNORE = (
    r"(?:ignore|disregard|forget|skip|override|overrule|bypass|drop|abandon|discard|neglect"
    r"|set\s+aside|throw\s+out|stop\s+following|do\s+not\s+follow|don'?t\s+follow|pay\s+no\s+attention\s+to"
    r"|cancel|nullify|void|erase|wipe|delete)"
)
_FILLER = r"(?:\s+(?:all|any|of|the|your|these|those|every|each|previous|prior|earlier|above|preceding|original|initial|system|existing|old|current|given|default|safety|developer|other|and|or))*"
_RULES_NOUN = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guidance|context|commands?"
    r"|programming|constraints|restrictions|guardrails|polic(?:y|ies)|orders|configuration|setup"
    r"|system\s+message|messages|training|limitations|filters)"
)
#: The user correcting their own earlier message is not an attack.
_SELF_CORRECTION = rx(
    r"\bmy\s+(?:previous|prior|earlier|last|above)\s+(?:instructions?|message|request|rules?|note)"
    r"\s+(?:about|regarding|concerning|on|for|re)\b"
)
_DEVICE = rx(
    r"\b(?:android|phone|iphone|ios|device|tablet|chrome|firefox|browser|settings|windows|macos"
    r"|xcode|tap|click|toggle|bios|router|console|playstation|xbox|app\b|vs\s?code|firmware)\b"
)

RULES: tuple[Rule, ...] = (
    # --- overriding earlier instructions (critical) --------------------------------------
    Rule("ignore_previous_instructions", "en.ignore_previous", C, 0.9, rx(
        r"\b" + _IGNORE + _FILLER + r"\s+(?:(?:previous|prior|above|earlier|preceding|original"
        r"|initial|system|existing|old|current|given|default|safety|developer)\s+)" + _RULES_NOUN
    ), unless=_SELF_CORRECTION),
    Rule("ignore_previous_instructions", "en.ignore_instructions_given", C, 0.9, rx(
        r"\b" + _IGNORE + r"\s+(?:all\s+)?(?:the\s+|your\s+)?" + _RULES_NOUN
        + r"\s+(?:you\s+(?:were|have\s+been|got)\s+(?:given|told|trained|programmed)|you\s+(?:received|had)"
        r"|(?:given|provided)\s+(?:to\s+you\s+)?(?:earlier|before|above|previously)|above|before\s+this)"
    )),
    Rule("ignore_previous_instructions", "en.ignore_everything", C, 0.9, rx(
        r"\b(?:ignore|disregard|forget)\s+(?:about\s+)?(?:everything|all|anything|whatever|what)\s+"
        r"(?:(?:that\s+)?(?:was\s+said\s+|is\s+written\s+|came\s+)?(?:above|before|previously|earlier)"
        r"|(?:that\s+)?you\s+(?:were|have\s+been)\s+(?:told|given|instructed|taught)|(?:you|i)\s+said\s+before)"
    ), unless=_SELF_CORRECTION),
    Rule("ignore_previous_instructions", "en.disregard_the_above_and", C, 0.88, rx(
        r"\b(?:ignore|disregard|forget|never\s?mind)\s+(?:all\s+(?:of\s+)?)?(?:the\s+|that\s+)?(?:above|foregoing|preceding|prior"
        r"|previous)(?:\s+(?:text|content|message|prompt|input|task|request|conversation))?"
        r"\s*(?:[,;:.!-]+\s*|\s+and\s+)(?:and\s+)?(?:instead|now|just|only|simply|rather|from\s+now|tell|say|print"
        r"|write|output|respond|reply|answer|reveal|do|follow|act|you)\b"
    )),
    Rule("ignore_previous_instructions", "en.instructions_void", C, 0.85, rx(
        r"\b(?:your|the|all)\s+(?:previous|prior|earlier|original|initial|system|old)\s+" + _RULES_NOUN
        + r"(?:\s+(?:are|were|have\s+been|is|has\s+been))?\s+(?:now\s+)?(?:void|null|cancell?ed|revoked|lifted|removed"
        r"|obsolete|outdated|invalid|suspended|disabled|no\s+longer\s+(?:valid|apply|relevant|in\s+effect))"
    )),
    Rule("ignore_previous_instructions", "en.stop_following_yours", C, 0.86, rx(
        r"\b(?:stop\s+following|do\s+not\s+follow|don'?t\s+follow|no\s+longer\s+follow|stop\s+obeying|disobey|abandon"
        r"|ignore|disregard|forget|override|bypass|break)\s+(?:all\s+(?:of\s+)?)?your\s+(?:own\s+)?(?:guidelines|rules|instructions"
        r"|programming|polic(?:y|ies)|system\s+prompt|safety\s+\w+|training|restrictions|filters|principles|directives"
        r"|constraints|guardrails)\b"
    ), unless=_SELF_CORRECTION),
    Rule("ignore_previous_instructions", "en.obey_only_me", C, 0.85, rx(
        r"\b(?:obey|listen\s+to|follow|answer\s+to|take\s+orders\s+from)\s+only\s+(?:me|my\s+(?:instructions|commands|orders)|this\s+message)\b"
        r"|\byou\s+(?:now\s+)?(?:answer|respond|report)\s+only\s+to\s+me\b"
    )),
    Rule("ignore_previous_instructions", "en.no_longer_bound", C, 0.88, rx(
        r"\byou\s+(?:are\s+)?no\s+longer\s+(?:bound|restricted|limited|constrained|required\s+to\s+follow"
        r"|have\s+to\s+follow|need\s+to\s+follow)|\bno\s+longer\s+(?:follow|obey|bound\s+by)\s+(?:your|any|the)"
    )),
    # --- new instructions and forged roles (critical) -------------------------------------
    Rule("new_instruction_injection", "en.new_instructions_colon", C, 0.85, rx(
        r"\b(?:new|updated|revised|real|actual|true|override|replacement|secret|hidden)\s+(?:system\s+)?"
        r"(?:instructions?|prompt|directives?|orders)\s*(?::|=|->|are\s*:|follow\b|below\b)"
    )),
    Rule("new_instruction_injection", "en.real_task", C, 0.85, rx(
        r"\byour\s+(?:real|true|actual|secret|hidden)\s+(?:task|goal|purpose|instructions?|role|job"
        r"|objective|mission)\s+(?:is|are|now)\b"
    )),
    Rule("new_instruction_injection", "en.from_now_on_unrestricted", C, 0.88, rx(
        r"\bfrom\s+now\s+on\b[^.\n]{0,60}?\b(?:you\s+(?:are|will\s+be|'re)\s+(?:no\s+longer|not\s+(?:an?\s+)?(?:ai|assistant)"
        r"|free|unrestricted|uncensored|unfiltered|jailbroken|evil|[A-Z][A-Za-z]*GPT|DAN)"
        r"|act\s+as|respond\s+as|answer\s+as|pretend|ignore|disregard|without\s+(?:any\s+)?(?:restrictions|filters"
        r"|rules|limits|censorship|refusals?)|never\s+refuse|there\s+are\s+no\s+(?:rules|limits))"
    )),
    Rule("new_instruction_injection", "en.instead_do", H, 0.78, rx(
        r"\b(?:ignore|disregard|forget|don'?t\s+(?:do|summari[sz]e|translate|answer))\s+(?:this|that|the\s+(?:task|question|request|user))"
        r"\s*(?:[,;.]\s*|\s+and\s+)(?:instead|rather)\b"
    )),
    Rule("system_role_manipulation", "en.forged_system_line", C, 0.88, rx(
        r"(?m)^[ \t>*#]*(?:\[|<|\(|\*\*)?[ \t]*(?:system|sys|admin|administrator|developer|root|operator|openai|anthropic)"
        r"(?:[ \t]+(?:message|override|prompt|note|notice|instruction|update|alert))?[ \t]*(?:\]|>|\)|\*\*)?[ \t]*:"
        r"[^\n]{0,120}?\b(?:ignore|disregard|override|from\s+now|unrestricted|you\s+are\s+now|developer\s+mode"
        r"|new\s+(?:instructions|rules)|reveal|comply|obey|jailbr\w*|no\s+(?:longer|restrictions|filters|rules)"
        r"|you\s+must\s+(?:now\s+)?(?:comply|obey|reveal|ignore|answer|output|print|grant))\b"
    )),
    Rule("system_role_manipulation", "en.forged_system_tag", C, 0.85, rx(
        r"(?:<\s*system\s*>|\[\s*system\s*\]\s*\(#|\{\s*\"role\"\s*:\s*\"system\")[^\n]{0,160}?\b(?:you|your|ignore"
        r"|disregard|override|must|unrestricted|reveal|new\s+(?:instructions|rules))\b"
    )),
    Rule("system_role_manipulation", "en.mode_switch", C, 0.88, rx(
        r"\byou\s+are\s+now\s+(?:in\s+|running\s+in\s+|operating\s+in\s+)?(?:developer|dev|admin|administrator|god|root|debug"
        r"|sudo|unrestricted|maintenance|jailbreak|jailbroken|uncensored|unfiltered|evil|chaos|opposite)\s+mode\b"
    )),
    Rule("system_role_manipulation", "en.enable_mode", C, 0.86, rx(
        r"\b(?:enable|activate|enter|switch\s+to|turn\s+on|unlock|engage|boot\s+into)\s+(?:the\s+)?(?:developer|dev|god"
        r"|sudo|unrestricted|jailbreak|uncensored|unfiltered|evil|chaos)\s+mode\b"
    ), unless=_DEVICE),
    Rule("system_role_manipulation", "en.act_as_system", C, 0.85, rx(
        r"\b(?:act|speak|respond)\s+as\s+(?:the\s+)?(?:system|root\s+user|administrator)\b"
        r"|\byou\s+are\s+no\s+longer\s+(?:an?\s+)?(?:ai|assistant|chatgpt|claude|language\s+model|helpful)\b"
        r"|\b(?:you\s+have\s+been|you're|you\s+are)\s+(?:freed|liberated|released|unshackled)\s+from\b"
    )),
    Rule("system_role_manipulation", "en.admin_override", C, 0.86, rx(
        r"\b(?:admin(?:istrator)?|developer|root|sudo|system|security)\s+(?:override|access\s+granted|authori[sz]ation\s+code)\b"
        r"[^\n]{0,80}\b(?:you|ignore|disregard|reveal|disable|output|print)\b"
    )),
    # --- DAN and named jailbreaks (critical) -----------------------------------------------
    Rule("dan_variant", "en.do_anything_now", C, 0.92, rx(r"\bdo\s+anything\s+now\b")),
    Rule("dan_variant", "en.dan_mode", C, 0.9, rx(
        r"\b(?:DAN|STAN|DUDE|AIM|AntiGPT|BetterDAN|BasedGPT|DevMode)\b(?:\s+(?:mode|prompt|jailbreak)|\s*\d+\.\d+)"
        r"|\byou\s+are\s+(?:now\s+)?(?:DAN|STAN|DUDE|AntiGPT|BetterDAN|BasedGPT)\b", 0
    )),
    Rule("dan_variant", "en.jailbreak", C, 0.88, rx(
        r"\bjailbr(?:eak|oken)\s+(?:mode|prompt|enabled|activated|successful)\b"
        r"|\b(?:has|have|had)\s+been\s+jailbr(?:oken|eaked)\b|\b(?:you\s+are|you're)\s+(?:now\s+)?jailbr(?:oken|eaked)\b"
        r"|\b(?:stay|remain)\s+in\s+character\b[^.\n]{0,80}\b(?:no\s+matter|never\s+(?:break|refuse)|even\s+if)"
    )),
    # --- role-play jailbreaks (medium, high when refusals are ruled out) -------------------
    Rule("role_play_jailbreak", "en.pretend_unrestricted", M, 0.75, rx(
        r"\b(?:pretend|imagine|act|roleplay|role-play|behave|play\s+the\s+role|you\s+are\s+going\s+to\s+act)\b[^.\n]{0,40}?"
        r"\b(?:you\s+are|to\s+be|as|like|of)\b[^.\n]{0,80}?\b(?:no|without|free\s+(?:from|of)|not\s+bound\s+by|ignoring"
        r"|doesn'?t\s+(?:have|follow|care\s+about)|never\s+follows?)\s+(?:any\s+)?(?:\w+\s+)?(?:restrictions|rules|limits|limitations"
        r"|filters|guidelines|ethics|morals|morality|censorship|content\s+polic(?:y|ies)|boundaries)"
    )),
    Rule("role_play_jailbreak", "en.evil_persona", M, 0.75, rx(
        r"\b(?:evil|unfiltered|uncensored|unrestricted|amoral|unaligned|unethical|rogue)\s+(?:ai|assistant|bot"
        r"|chatbot|model|version|twin|persona|gpt|counterpart|alter\s+ego)\b"
    )),
    Rule("role_play_jailbreak", "en.never_refuse", H, 0.85, rx(
        r"\b(?:never|not|don'?t|cannot|can'?t|won'?t|must\s+not)\s+(?:ever\s+)?(?:refuse|decline|say\s+no|say\s+(?:that\s+)?you\s+can'?t"
        r"|add\s+(?:any\s+)?(?:warnings|disclaimers))\b[^.\n]{0,60}?\b(?:any|no\s+matter|whatever|anything|request|question"
        r"|even\s+if|illegal|harmful|unethical)|\b(?:ignore|bypass|without)\s+(?:your\s+|the\s+|any\s+|openai'?s\s+)?"
        r"(?:content\s+polic(?:y|ies)|ethical\s+guidelines|safety\s+(?:guidelines|filters|training|rules)|moral\s+constraints)"
    )),
    Rule("role_play_jailbreak", "en.grandma", M, 0.75, rx(
        r"\b(?:dead|late|deceased)\s+(?:grand(?:ma|mother|pa|father)|mother|father)\b[^\n]{0,120}\b(?:used\s+to|would)\s+"
        r"(?:tell|read|recite|give)\b[^\n]{0,60}\b(?:keys?|passwords?|recipe\s+for|instructions\s+(?:for|to)|napalm|serial)"
    )),
    # --- prompt extraction (high) ----------------------------------------------------------
    Rule("direct_prompt_extraction", "en.reveal_prompt", H, 0.85, rx(
        r"\b(?:reveal|show|print|display|repeat|output|leak|dump|give\s+me|tell\s+me|share|paste|recite|spell\s+out|write\s+out"
        r"|what\s+(?:is|are|was|were))\b[^.\n]{0,30}?\b(?:your|the)\s+(?:full\s+|exact\s+|entire\s+|complete\s+|original\s+)?"
        r"(?:system\s+(?:prompt|message|instructions)|initial\s+(?:prompt|instructions)|hidden\s+(?:prompt|instructions)"
        r"|original\s+(?:prompt|instructions)|secret\s+instructions|instructions\s+you\s+were\s+given|pre-?prompt"
        r"|developer\s+(?:prompt|message|instructions)|confidential\s+instructions|guidelines\s+you\s+were\s+given)"
    )),
    Rule("indirect_prompt_extraction", "en.everything_above", H, 0.8, rx(
        r"\b(?:summari[sz]e|translate|paraphrase|encode|rewrite|spell\s+out|convert|repeat|print|output|copy)\b[^.\n]{0,40}?"
        r"\b(?:everything|all\s+(?:the\s+)?text|whatever|all\s+(?:the\s+)?(?:words|instructions))\s+(?:(?:that\s+)?(?:was|is)\s+written\s+)?"
        r"(?:above|before\s+(?:this|my\s+message)|prior\s+to\s+this)"
    )),
    Rule("indirect_prompt_extraction", "en.what_were_you_told", H, 0.8, rx(
        r"\b(?:what|which)\s+(?:were|are)\s+you\s+(?:told|instructed|programmed)\s+(?:to|before)\b"
        r"|\brepeat\s+(?:the\s+)?(?:words|text|everything)\s+above\b"
        r"|\bstart\s+your\s+(?:answer|response|reply)\s+with\s+[\"']?you\s+are\b"
        r"|\b(?:output|print|repeat)\s+(?:everything|all)\s+(?:before|above)\s+(?:this|the\s+(?:first|last))\b"
    )),
    # --- delimiters and nested prompts -----------------------------------------------------
    Rule("delimiter_injection", "en.closing_tag", H, 0.8, rx(
        r"</\s*(?:system|instructions?|prompt|context|user|user_input|document)\s*>"
        r"|\[/INST\]|\[/?END\s+OF\s+(?:PROMPT|INPUT|INSTRUCTIONS)\]|<\|(?:endoftext|im_end|end|eot_id)\|>"
        r"|(?<![-=#])(?:-{3,}|={3,}|#{3,})\s*end\s+of\s+(?:system\s+)?(?:prompt|instructions|context|user\s+input)"
    )),
    Rule("nested_prompt", "en.chat_markup", M, 0.75, rx(
        r"<\|im_start\|>|\[INST\]|<<\s*SYS\s*>>|<\|start_header_id\|>"
        r"|^[ \t]*#{2,}[ \t]*(?:instruction|system|response)[ \t]*:"
        r"|^[ \t]*(?:human|user)[ \t]*:[^\n]{1,200}\n[ \t]*(?:assistant|ai)[ \t]*:", re.IGNORECASE | re.MULTILINE
    )),
    # --- hidden instructions in documents (retrieved text speaking to the model) ---------
    Rule("new_instruction_injection", "doc.note_to_assistant", H, 0.82, rx(
        r"\b(?:note|message|instructions?|attention|hey|hello|dear)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?"
        r"(?:ai|llm|assistant|chatbot|bot|language\s+model|model|gpt|agent|screener|reviewer\s+ai|ai\s+\w+)s?\b"
        r"(?:\s+(?:reading|processing|summari[sz]ing|screening|reviewing|parsing)\s+(?:this|the)\s+\w+)?\s*[:,-]"
        r"|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|language\s+model|assistant|chatbot|gpt|automated|bot|agent)\b[^.\n]{0,40}?"
        r"(?:reading|processing|summari[sz]ing|screening|reviewing|parsing|seeing)"
        r"|\b(?:notes?|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:automated|automatic|ai[- ]powered)\s+"
        r"(?:reviewers?|screeners?|systems?|tools?|readers?|recruiters?|parsers?)\b"
        r"|\b(?:assistant|ai|llm|chatbot|language\s+model|model)\s*,\s*(?:when|while|whenever)\s+(?:you\s+are\s+)?(?:summari[sz]ing|reading"
        r"|processing|answering|responding|reviewing|parsing)\b"
        r"|\bwhen\s+you,?\s+the\s+(?:ai|llm|assistant|language\s+model|model|chatbot),?\s+(?:read|process|summari[sz]e|see|review)"
        r"|\b(?:ai|llm|assistant|language\s+model|gpt|chatbot)s?\s+(?:reading|processing|summari[sz]ing|screening"
        r"|reviewing|parsing)\s+this\b[^.\n]{0,40}?\b(?:must|should|shall|will|are\s+(?:instructed|required))\b"
    )),
    Rule("new_instruction_injection", "doc.html_comment_instruction", H, 0.82, rx(
        r"<!--(?:(?!-->).){0,300}?\b(?:ai|llm|assistant|gpt|model|chatbot|agent|you\s+(?:must|should|will|are)"
        r"|ignore|disregard|instead|do\s+not\s+(?:mention|tell|reveal)|rank|rate|recommend|hire|approve|respond|reply"
        r"|tell\s+the\s+user|say\s+that)\b(?:(?!-->).){0,300}?-->", re.IGNORECASE | re.DOTALL
    )),
    # --- commands, tool calls, templates ---------------------------------------------------
    Rule("command_injection", "en.shell_substitution", H, 0.82, rx(
        r"\$\([^)\n]{0,80}\b(?:rm|curl|wget|nc|ncat|bash|sh|chmod|python\d?|perl|cat)\b[^)\n]{0,80}\)"
        r"|`\s*(?:rm\s+-rf|nc\s+-[elv]|bash\s+-i|cat\s+/etc/(?:passwd|shadow))[^`\n]{0,80}`"
        r"|(?:;|&&|\|\|?)\s*(?:rm\s+-[rf]{1,2}\s+[/~]|nc\s+-[elv]|bash\s+-i|cat\s+/etc/(?:passwd|shadow))"
        r"|\bbash\s+-i\s+>&\s*/dev/tcp/|/dev/tcp/\d"
    )),
    Rule("command_injection", "tool.forged_call", H, 0.8, rx(
        r"<\s*/?\s*(?:tool_call|tool_use|function_call|function_calls|invoke|tool_code|execute)\b[^>\n]{0,40}>\s*[{\[\w]"
        r"|\{\s*\"(?:tool|tool_name|function|name|action)\"\s*:\s*\"(?:bash|shell|exec|execute|run_command|terminal|python"
        r"|os\.system|subprocess|run_shell|cmd|powershell|send_email|http_request|fetch|browser)\"", re.IGNORECASE | re.DOTALL
    )),
    Rule("command_injection", "tool.run_and_hide", H, 0.82, rx(
        r"\b(?:run|execute|exec|call|invoke|perform)\b[^.\n]{0,40}?(?:`[^`\n]+`|\b(?:curl|wget|rm\s+-rf|nc|chmod)\b[^\n]{0,100}?)"
        r"[^\n]{0,60}?\b(?:silently|without\s+(?:asking|telling|confirm\w*|showing|mentioning|permission)|immediately|do\s+not\s+"
        r"(?:ask|tell|mention|show|confirm)|don'?t\s+(?:ask|tell|mention|show|confirm)|in\s+the\s+background)\b"
    )),
    Rule("template_injection", "en.template_payload", H, 0.82, rx(
        r"\{\{[^{}\n]{0,80}(?:__class__|__globals__|__builtins__|__import__|__subclasses__|__mro__|__init__|lipsum|cycler"
        r"|joiner|request\.application|config\.items|self\._|\d+\s*\*\s*\d+)[^{}\n]{0,80}\}\}"
        r"|\{%-?\s*(?:import|include|exec|debug)\b[^%\n]{0,80}%\}"
        r"|\$\{\s*(?:jndi|env|sys|java|script|lower|upper)\s*:"
        r"|<%=?[^%\n]{0,80}\b(?:system|exec|eval|Runtime|Process)\b[^%\n]{0,80}%>"
    )),
    # --- exfiltration ----------------------------------------------------------------------
    Rule("data_exfiltration", "en.send_to_url", H, 0.85, rx(
        r"\b(?:send|post|upload|transmit|forward|exfiltrate|email|leak|submit|append|include|encode|put)\b[^.\n]{0,60}?"
        r"\b(?:data|conversation|chat|history|contents?|credentials|passwords?|keys?|secrets?|tokens?|cookies?"
        r"|information|results?|everything|all\s+of\s+it|this|(?:system\s+)?prompt|summary|messages?|emails?|files?)\b[^.\n]{0,40}?"
        r"\b(?:to|at|via|into|in)\s+(?:the\s+)?(?:https?://|ftp://|[\w.+-]+@[\w-]+\.\w|(?:my|this|that|the|our|attacker'?s?)\s+"
        r"(?:server|webhook|endpoint|url|link|image\s+url|collector)|(?:a|the)\s+(?:url|link|query\s+(?:string|parameter)))"
    )),
    Rule("data_exfiltration", "md.image_exfiltration", H, 0.85, rx(
        r"!\[[^\]\n]{0,80}\]\(\s*https?://[^)\s]{0,300}?(?:\{\{?[A-Za-z_][\w.]*\}\}?|\[[A-Za-z_ ]+\]|<[A-Za-z_ ]+>|\$[A-Z_]{3,}"
        r"|%s|(?-i:\b(?:DATA|SECRET|CONVERSATION|HISTORY|PASSWORD|TOKEN|SUMMARY|CHAT|EMAIL|INFO|QUERY|PROMPT)\b)"
        r"|=(?:data|secret|conversation|history|password|token|summary|chat|prompt|memory|context|cookie)s?\b)[^)\s]{0,300}\)"
    )),
    Rule("data_exfiltration", "md.render_image_with", H, 0.8, rx(
        r"\b(?:render|display|show|output|include|embed|add)\b[^.\n]{0,40}?\b(?:image|markdown\s+image|img\s+tag|pixel)"
        r"[^.\n]{0,80}?\b(?:with|containing|whose\s+url\s+contains|append(?:ing|ed)?|where\s+\w+\s+is)\b[^.\n]{0,60}?"
        r"\b(?:conversation|chat|history|password|secret|token|key|email|data|summary|prompt|memory|previous\s+messages)"
    )),
    # --- encoded instructions and memory access (medium) ------------------------------------
    Rule("encoded_instruction", "en.decode_and_follow", M, 0.75, rx(
        r"\b(?:decode|decrypt|deobfuscate|translate|reverse)\b[^.\n]{0,30}?\b(?:base64|hex|rot13|rot-13|binary|morse"
        r"|caesar|cipher|reversed?)\b[^.\n]{0,40}?\b(?:follow|execute|run|obey|do\s+what|comply|carry\s+out|act\s+on)"
    )),
    Rule("memory_state_access", "en.memory_dump", M, 0.75, rx(
        r"\b(?:show|reveal|print|dump|list|access|read|tell\s+me|what\s+is\s+in)\b[^.\n]{0,30}?"
        r"\b(?:your|the)\s+(?:memory|memories|conversation\s+history|chat\s+history"
        r"|previous\s+(?:conversations?|users?|sessions?|chats?)|context\s+window|internal\s+state"
        r"|training\s+data|cached\s+(?:data|responses|answers))"
        r"|\bwhat\s+did\s+(?:the\s+)?(?:previous|last|other|another)\s+(?:user|person|customer)s?\s+(?:say|ask|write|type)"
    )),
)  # fmt: skip


#: Necessary substrings per rule (see ``Rule.needs``); a test checks the set still detects
#: what it detected without them.
NEEDS: dict[str, tuple[str, ...]] = {
    "en.ignore_previous": (
        "previous",
        "prior",
        "above",
        "earlier",
        "preceding",
        "original",
        "initial",
        "system",
        "existing",
        "old",
        "current",
        "given",
        "default",
        "safety",
        "developer",
    ),
    "en.ignore_instructions_given": (
        "ignor",
        "disregard",
        "forget",
        "skip",
        "overr",
        "bypass",
        "drop",
        "abandon",
        "discard",
        "neglect",
        "aside",
        "throw",
        "follow",
        "attention",
        "cancel",
        "nullify",
        "void",
        "erase",
        "wipe",
        "delete",
    ),
    "en.ignore_everything": ("ignore", "disregard", "forget"),
    "en.disregard_the_above_and": ("ignore", "disregard", "forget", "never"),
    "en.instructions_void": (
        "previous",
        "prior",
        "earlier",
        "original",
        "initial",
        "system",
        "old",
    ),
    "en.stop_following_yours": ("your",),
    "en.obey_only_me": ("only",),
    "en.no_longer_bound": ("longer",),
    "en.new_instructions_colon": ("instruction", "prompt", "directive", "order"),
    "en.real_task": ("your",),
    "en.from_now_on_unrestricted": ("now",),
    "en.instead_do": ("instead", "rather"),
    "en.forged_system_line": (
        "sys",
        "admin",
        "developer",
        "root",
        "operator",
        "openai",
        "anthropic",
    ),
    "en.forged_system_tag": ("system",),
    "en.mode_switch": ("mode",),
    "en.enable_mode": ("mode",),
    "en.act_as_system": (
        "system",
        "root",
        "administrator",
        "longer",
        "freed",
        "liberated",
        "released",
        "unshackled",
    ),
    "en.admin_override": ("override", "granted", "authori"),
    "en.do_anything_now": ("anything",),
    "en.dan_mode": ("dan", "stan", "dude", "aim", "antigpt", "based", "devmode"),
    "en.jailbreak": ("jailbr", "character"),
    "en.pretend_unrestricted": ("pretend", "imagin", "act", "role", "behav", "play"),
    "en.evil_persona": (
        "evil",
        "unfilter",
        "uncensor",
        "unrestrict",
        "amoral",
        "unalign",
        "unethical",
        "rogue",
    ),
    "en.never_refuse": (
        "refuse",
        "decline",
        "say",
        "warning",
        "disclaimer",
        "polic",
        "guideline",
        "safety",
        "moral",
    ),
    "en.grandma": ("grand", "mother", "father"),
    "en.reveal_prompt": ("prompt", "message", "instruction", "guideline"),
    "en.everything_above": ("above", "before", "prior"),
    "en.what_were_you_told": ("told", "instructed", "programmed", "above", "you", "before"),
    "en.closing_tag": ("</", "[/inst]", "<|", "end"),
    "en.chat_markup": ("<|im_start|>", "[inst]", "<<", "<|start_header_id|>", "#", "human", "user"),
    "doc.note_to_assistant": (
        "ai",
        "llm",
        "assistant",
        "chatbot",
        "bot",
        "model",
        "gpt",
        "agent",
        "screener",
        "reviewer",
        "automat",
    ),
    "doc.html_comment_instruction": ("<!--",),
    "en.shell_substitution": ("$(", "`", ";", "&", "|", "/dev/tcp"),
    "tool.forged_call": ("<", "{"),
    "tool.run_and_hide": ("run", "exec", "call", "invoke", "perform"),
    "en.template_payload": ("{{", "{%", "${", "<%"),
    "en.send_to_url": (
        "send",
        "post",
        "upload",
        "transmit",
        "forward",
        "exfiltrat",
        "email",
        "leak",
        "submit",
        "append",
        "include",
        "encode",
        "put",
    ),
    "md.image_exfiltration": ("![",),
    "md.render_image_with": ("image", "img", "pixel"),
    "en.decode_and_follow": ("decod", "decrypt", "deobfusc", "translat", "revers"),
    "en.memory_dump": (
        "memor",
        "history",
        "previous",
        "context",
        "internal",
        "training",
        "cached",
        "what did",
    ),
}
RULES = with_needs(RULES, NEEDS)
