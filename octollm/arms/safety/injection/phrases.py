"""Phrase sets for French, German, Spanish, Portuguese, Italian, Chinese and Japanese.

Matched against normalised text, where accents are already stripped ("précédentes" reads
"precedentes", "Anweisungen" is unchanged, "instruções" reads "instrucoes"), so the patterns
are written without them. Each language covers the critical families (override earlier
instructions, forged mode switches, "new instructions:") and prompt extraction.
"""

from __future__ import annotations

from octollm.arms.safety.finding import Risk
from octollm.arms.safety.injection.rule import Rule, rx, with_needs

C, H, M = Risk.CRITICAL, Risk.HIGH, Risk.MEDIUM

_IGN, _NEW, _MODE, _EXTRACT, _FREE = (
    "ignore_previous_instructions",
    "new_instruction_injection",
    "system_role_manipulation",
    "direct_prompt_extraction",
    "role_play_jailbreak",
)

PHRASES: tuple[Rule, ...] = (
    # --- French ---------------------------------------------------------------------------
    Rule(_IGN, "fr.ignore_previous", C, 0.9, rx(
        r"\b(?:ignore[rz]?|oublie[rz]?|neglige[rz]?|ne\s+tiens?\s+(?:plus\s+)?pas\s+compte\s+d|ne\s+tenez\s+(?:plus\s+)?pas\s+compte\s+d"
        r"|fais\s+abstraction\s+d|faites\s+abstraction\s+d|passe[rz]?\s+outre)\w*\s*'?\s*(?:toutes\s+|tous\s+)?(?:les\s+|tes\s+|vos\s+|ces\s+)?"
        r"(?:instructions|consignes|regles|directives|ordres|indications)\s+(?:precedentes|anterieures|initiales|d'origine|ci-dessus"
        r"|qu'on\s+t'a\s+donnees|recues|du\s+systeme)"
    )),
    Rule(_IGN, "fr.forget_everything", C, 0.88, rx(
        r"\b(?:oublie[rz]?|ignore[rz]?)\s+tout\s+(?:ce\s+qu(?:i|e|'on)\s+(?:t'a\s+ete\s+dit|vous\s+a\s+ete\s+dit|precede|t'a\s+dit|a\s+ete\s+dit)|ce\s+qui\s+est\s+au-dessus|le\s+reste)"
    )),
    Rule(_NEW, "fr.new_instructions", C, 0.85, rx(r"\bnouvelles?\s+(?:instructions|consignes|directives)\s*:")),
    Rule(_MODE, "fr.mode", C, 0.86, rx(
        r"\b(?:tu\s+es|vous\s+etes)\s+(?:maintenant|desormais|a\s+present)\s+en\s+mode\s+(?:developpeur|administrateur|admin|debogage|sans\s+restriction|libre)"
        r"|\b(?:active[rz]?|passe[rz]?\s+en)\s+(?:le\s+)?mode\s+(?:developpeur|administrateur|sans\s+restriction)\b[^.\n]{0,40}\b(?:reponds|reponde[sz]|tu|vous)"
    )),
    Rule(_EXTRACT, "fr.reveal_prompt", H, 0.85, rx(
        r"\b(?:revele[rz]?|affiche[rz]?|montre[rz]?|donne[rz]?[- ]moi|repete[rz]?|imprime[rz]?|ecris|dis[- ]moi)\s+(?:ton|votre|le|tes|vos|les)\s+"
        r"(?:prompt|message|invite|instructions|consignes)\s+(?:systeme|du\s+systeme|initiales?|cachees?|d'origine|secretes?)"
    )),
    Rule(_FREE, "fr.no_restrictions", H, 0.8, rx(
        r"\b(?:sans|aucune?)\s+(?:aucune?\s+)?(?:restrictions?|limites?|filtres?|censure|regles\s+ethiques)\b[^.\n]{0,60}\b(?:reponds|reponde[sz]|tu\s+dois|vous\s+devez|tu\s+es|vous\s+etes|agis|agissez)"
        r"|\b(?:tu\s+es|vous\s+etes|agis\s+comme|agissez\s+comme)\b[^.\n]{0,40}\b(?:sans\s+(?:aucune\s+)?(?:restrictions?|limites?|filtres?|censure))"
    )),
    # --- German ---------------------------------------------------------------------------
    Rule(_IGN, "de.ignore_previous", C, 0.9, rx(
        r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen\s+sie|missachte(?:n)?|uberspring(?:e|en)?|verwirf|verwerfen\s+sie|beachte(?:n)?\s+(?:sie\s+)?nicht)\s+"
        r"(?:sie\s+)?(?:bitte\s+)?(?:alle\s+)?(?:die\s+|deine\s+|ihre\s+)?(?:vorherigen|bisherigen|obigen|vorigen|ursprunglichen|fruheren"
        r"|vorangegangenen|bestehenden|gegebenen|system)[- ]?(?:anweisungen|instruktionen|regeln|vorgaben|befehle|richtlinien|prompts?)"
    )),
    Rule(_IGN, "de.ignore_everything", C, 0.88, rx(
        r"\b(?:ignorier(?:e|en)?|vergiss|vergessen\s+sie)\s+(?:sie\s+)?alles\s*,?\s*(?:was\s+(?:dir|ihnen|man\s+dir)\s+(?:vorher\s+|zuvor\s+|bisher\s+)?(?:gesagt|aufgetragen)"
        r"|(?:was\s+)?(?:oben|bisher|zuvor|vorher)(?:\s+steht|\s+gesagt\s+wurde)?)"
    )),
    Rule(_NEW, "de.new_instructions", C, 0.85, rx(r"\bneue\s+(?:anweisungen|instruktionen|regeln|befehle)\s*:")),
    Rule(_MODE, "de.mode", C, 0.86, rx(
        r"\b(?:du\s+bist|sie\s+sind)\s+(?:jetzt|nun|ab\s+sofort)\s+im\s+(?:entwickler|admin|administrator|debug|uneingeschrankten|wartungs)[- ]?modus"
        r"|\b(?:aktiviere|aktivieren\s+sie)\s+den\s+(?:entwickler|admin|uneingeschrankten)[- ]?modus\b[^.\n]{0,40}\b(?:antworte|du|sie)\b"
    ), unless=rx(r"\b(?:android|handy|smartphone|telefon|einstellungen|browser|chrome|tippen|geraet|gerat)\b")),
    Rule(_EXTRACT, "de.reveal_prompt", H, 0.85, rx(
        r"\b(?:zeig(?:e|en)?|gib|geben|verrat(?:e|en)?|nenn(?:e|en)?|wiederhol(?:e|en)?|drucke|schreib(?:e)?)\s+(?:sie\s+)?(?:mir\s+)?(?:bitte\s+)?"
        r"(?:deinen|deine|ihren|ihre|den|die)\s+(?:system[- ]?prompt|system[- ]?anweisungen|ursprunglichen\s+anweisungen|anfanglichen\s+anweisungen"
        r"|versteckten\s+anweisungen|geheimen\s+anweisungen)"
    )),
    Rule(_FREE, "de.no_restrictions", H, 0.8, rx(
        r"\bohne\s+(?:jegliche\s+|alle\s+|irgendwelche\s+)?(?:einschrankungen|regeln|filter|zensur|beschrankungen)\b[^.\n]{0,60}\b(?:antworte|antworten\s+sie|du\s+musst|du\s+bist|handle)"
        r"|\b(?:du\s+bist|sie\s+sind|spiele|spiel)\b[^.\n]{0,50}\bohne\s+(?:jegliche\s+)?(?:einschrankungen|regeln|filter|zensur)"
    )),
    # --- Spanish --------------------------------------------------------------------------
    Rule(_IGN, "es.ignore_previous", C, 0.9, rx(
        r"\b(?:ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|omite|omita|descarta|descarte|haz\s+caso\s+omiso\s+de|no\s+hagas\s+caso\s+(?:a|de))\s+"
        r"(?:todas\s+|todos\s+)?(?:las\s+|tus\s+|sus\s+|los\s+)?(?:instrucciones|indicaciones|reglas|ordenes|directrices|normas|mensajes)\s+"
        r"(?:anteriores|previas|iniciales|originales|de\s+arriba|del\s+sistema|que\s+(?:te\s+)?(?:dieron|han\s+dado))"
    )),
    Rule(_IGN, "es.forget_everything", C, 0.88, rx(
        r"\b(?:olvida|olvide|ignora|ignore)\s+todo\s+(?:lo\s+)?(?:que\s+(?:te\s+)?(?:dijeron|han\s+dicho|se\s+dijo|dije)|anterior|lo\s+de\s+arriba)"
    )),
    Rule(_NEW, "es.new_instructions", C, 0.85, rx(r"\bnuevas\s+(?:instrucciones|indicaciones|ordenes|reglas)\s*:")),
    Rule(_MODE, "es.mode", C, 0.86, rx(
        r"\b(?:ahora\s+)?(?:estas|esta|eres)\s+(?:ahora\s+)?en\s+(?:el\s+)?modo\s+(?:desarrollador|administrador|admin|depuracion|sin\s+restricciones|dios)"
        r"|\bactiva\s+(?:el\s+)?modo\s+(?:desarrollador|administrador|sin\s+restricciones)\b[^.\n]{0,40}\b(?:responde|tu)\b"
    ), unless=rx(r"\b(?:android|telefono|movil|celular|ajustes|configuracion|navegador|chrome|toca)\b")),
    Rule(_EXTRACT, "es.reveal_prompt", H, 0.85, rx(
        r"\b(?:revela|revele|muestra|muestrame|muestre|dime|dame|repite|imprime|escribe)\s+(?:tu|tus|el|las|su|sus)\s+"
        r"(?:prompt|mensaje|instrucciones)\s+(?:del\s+sistema|de\s+sistema|iniciales|ocultas|originales|secretas)"
    )),
    Rule(_FREE, "es.no_restrictions", H, 0.8, rx(
        r"\bsin\s+(?:ninguna\s+|ningun\s+)?(?:restriccion(?:es)?|limites|filtros|censura|reglas)\b[^.\n]{0,60}\b(?:responde|responda|debes|eres|actua)"
        r"|\b(?:eres|actua\s+como|finge\s+(?:que\s+eres|ser))\b[^.\n]{0,50}\bsin\s+(?:ninguna\s+)?(?:restriccion(?:es)?|limites|filtros|censura|reglas)"
    )),
    # --- Portuguese -----------------------------------------------------------------------
    Rule(_IGN, "pt.ignore_previous", C, 0.9, rx(
        r"\b(?:ignore|ignora|ignorar|ignorem|esqueca|esqueca|esquecer|esquecam|desconsidere|desconsidera|descarte|descarta|despreze)\s+"
        r"(?:todas\s+|todos\s+)?(?:as\s+|suas\s+|tuas\s+|os\s+)?(?:suas\s+)?(?:instrucoes|orientacoes|regras|ordens|diretrizes|mensagens)\s+"
        r"(?:anteriores|previas|iniciais|originais|acima|do\s+sistema|que\s+(?:voce\s+)?recebeu)"
    )),
    Rule(_IGN, "pt.forget_everything", C, 0.88, rx(
        r"\b(?:esqueca|ignore|esquece|ignora)\s+tudo\s+(?:o\s+)?(?:que\s+(?:te\s+|lhe\s+)?(?:disseram|foi\s+dito|eu\s+disse)|anterior|acima)"
    )),
    Rule(_NEW, "pt.new_instructions", C, 0.85, rx(r"\bnovas\s+(?:instrucoes|orientacoes|ordens|regras)\s*:")),
    Rule(_MODE, "pt.mode", C, 0.86, rx(
        r"\b(?:voce|tu)\s+(?:agora\s+)?(?:esta|estas|e)\s+(?:agora\s+)?(?:no|em)\s+modo\s+(?:desenvolvedor|administrador|admin|depuracao|sem\s+restricoes|deus)"
        r"|\bative\s+o\s+modo\s+(?:desenvolvedor|administrador|sem\s+restricoes)\b[^.\n]{0,40}\b(?:responda|voce)\b"
    ), unless=rx(r"\b(?:android|celular|telefone|configuracoes|navegador|chrome|toque)\b")),
    Rule(_EXTRACT, "pt.reveal_prompt", H, 0.85, rx(
        r"\b(?:revele|revela|mostre|mostra|diga|diz|me\s+diga|me\s+mostre|repita|imprima|escreva)\s+(?:me\s+)?(?:o\s+|a\s+|as\s+)?(?:seu|sua|suas|teu|tuas)?\s*"
        r"(?:prompt|mensagem|instrucoes)\s+(?:do\s+sistema|de\s+sistema|iniciais|ocultas|originais|secretas)"
    )),
    Rule(_FREE, "pt.no_restrictions", H, 0.8, rx(
        r"\bsem\s+(?:nenhuma\s+|qualquer\s+)?(?:restricao|restricoes|limites|filtros|censura|regras)\b[^.\n]{0,60}\b(?:responda|deve|voce\s+e|aja)"
        r"|\b(?:voce\s+e|aja\s+como|finja\s+(?:que\s+e|ser))\b[^.\n]{0,50}\bsem\s+(?:nenhuma\s+)?(?:restricao|restricoes|limites|filtros|censura|regras)"
    )),
    # --- Italian --------------------------------------------------------------------------
    Rule(_IGN, "it.ignore_previous", C, 0.9, rx(
        r"\b(?:ignora|ignori|ignorare|ignorate|dimentica|dimentichi|dimenticate|trascura|non\s+considerare|non\s+tenere\s+conto\s+del?l?e?)\s+"
        r"(?:tutte\s+|tutti\s+)?(?:le\s+|tue\s+|sue\s+|i\s+)?(?:tue\s+)?(?:istruzioni|regole|indicazioni|direttive|ordini|messaggi)\s+"
        r"(?:precedenti|iniziali|originali|di\s+sistema|del\s+sistema|sopra|che\s+ti\s+sono\s+state\s+date|ricevute)"
    )),
    Rule(_IGN, "it.forget_everything", C, 0.88, rx(
        r"\b(?:dimentica|ignora|dimenticate|ignorate)\s+tutto\s+(?:quello\s+|cio\s+)?(?:che\s+(?:ti\s+)?(?:e\s+stato\s+detto|hanno\s+detto|ho\s+detto)|quanto\s+detto|sopra|prima)"
    )),
    Rule(_NEW, "it.new_instructions", C, 0.85, rx(r"\bnuove\s+(?:istruzioni|regole|direttive|indicazioni)\s*:")),
    Rule(_MODE, "it.mode", C, 0.86, rx(
        r"\b(?:ora\s+)?(?:sei|siete)\s+(?:ora\s+)?in\s+modalita\s+(?:sviluppatore|amministratore|admin|debug|senza\s+restrizioni|dio)"
        r"|\battiva\s+la\s+modalita\s+(?:sviluppatore|amministratore|senza\s+restrizioni)\b[^.\n]{0,40}\b(?:rispondi|tu)\b"
    ), unless=rx(r"\b(?:android|telefono|cellulare|impostazioni|browser|chrome|tocca)\b")),
    Rule(_EXTRACT, "it.reveal_prompt", H, 0.85, rx(
        r"\b(?:rivela|rivelami|mostra|mostrami|dimmi|dammi|ripeti|stampa|scrivi)\s+(?:il\s+|le\s+|la\s+)?(?:tuo|tue|tua|suo|sue)?\s*"
        r"(?:prompt|messaggio|istruzioni)\s+(?:di\s+sistema|del\s+sistema|iniziali|nascoste|originali|segrete)"
    )),
    Rule(_FREE, "it.no_restrictions", H, 0.8, rx(
        r"\bsenza\s+(?:alcuna\s+|nessuna\s+)?(?:restrizione|restrizioni|limiti|filtri|censura|regole)\b[^.\n]{0,60}\b(?:rispondi|devi|sei|agisci)"
        r"|\b(?:sei|agisci\s+come|fingi\s+di\s+essere)\b[^.\n]{0,50}\bsenza\s+(?:alcuna\s+)?(?:restrizione|restrizioni|limiti|filtri|censura|regole)"
    )),
    # --- Chinese (simplified and traditional) ----------------------------------------------
    Rule(_IGN, "zh.ignore_previous", C, 0.9, rx(
        r"(?:忽略|忽视|無視|无视|忘记|忘記|忘掉|不要理会|不要理會|不用理会|别管|別管|跳过|跳過|放弃|放棄|抛开|拋開)\s*(?:掉)?\s*"
        r"(?:你|您)?(?:之前|以上|上面|先前|前面|此前|原来|原來|原有|所有|全部|一切|系统|系統|最初)+\s*(?:的)?\s*(?:所有|全部|一切)?\s*(?:的)?\s*"
        r"(?:指令|指示|说明|說明|规则|規則|提示|提示词|提示詞|要求|设定|設定|命令|限制|内容|內容)"
    )),
    Rule(_NEW, "zh.new_instructions", C, 0.85, rx(r"(?:新的|新)(?:指令|指示|规则|規則|任务|任務)\s*[:：]")),
    Rule(_MODE, "zh.mode", C, 0.86, rx(
        r"(?:你|您)(?:现在|現在|从现在开始|從現在開始)?(?:是|处于|處於|进入|進入|已进入|已進入)\s*(?:了)?\s*(?:开发者|開發者|管理员|管理員|无限制|無限制|调试|調試|越狱|越獄|上帝)\s*模式"
        r"|(?:启用|啟用|开启|開啟|激活|进入|進入)\s*(?:开发者|開發者|越狱|越獄|无限制|無限制)\s*模式"
    )),
    Rule(_EXTRACT, "zh.reveal_prompt", H, 0.85, rx(
        r"(?:输出|輸出|显示|顯示|告诉我|告訴我|打印|泄露|泄漏|重复|重複|透露|给我看|給我看|展示)\s*(?:一下)?\s*(?:你的|您的|你|完整的|全部)?\s*"
        r"(?:系统提示|系統提示|系统提示词|系統提示詞|初始指令|系统指令|系統指令|隐藏指令|隱藏指令|原始指令|提示词|提示詞)"
    )),
    Rule(_FREE, "zh.no_restrictions", H, 0.8, rx(
        r"(?:没有任何|沒有任何|不受任何|不受|没有|沒有|无视|無視|摆脱|擺脫)\s*(?:的)?\s*(?:限制|约束|約束|规则|規則|审查|審查|道德|过滤|過濾)"
        r"[^。\n]{0,30}(?:回答|回复|回覆|你|扮演|作为|作為)"
        r"|(?:扮演|假装|假裝|你是)[^。\n]{0,30}(?:没有任何|沒有任何|不受任何|没有|沒有)\s*(?:限制|约束|約束|规则|規則|审查|審查|道德)"
    )),
    # --- Japanese -------------------------------------------------------------------------
    Rule(_IGN, "ja.ignore_previous", C, 0.9, rx(
        r"(?:以前|前|上記|これまで|先ほど|先程|最初|元|既存|システム|今まで)\s*の\s*(?:すべての|全ての|全部の)?\s*"
        r"(?:指示|命令|ルール|指令|設定|プロンプト|制約|説明)\s*(?:は|を)\s*(?:すべて|全て|全部)?\s*(?:無視|忘れ|破棄|取り消|撤回)"
        r"|(?:指示|命令|ルール|プロンプト)\s*を\s*(?:すべて|全て|全部)?\s*無視\s*(?:して|しろ|せよ|してください)"
    )),
    Rule(_IGN, "ja.forget_everything", C, 0.88, rx(
        r"(?:これまで|今まで|上記|以前)\s*(?:に)?\s*(?:言われた|与えられた|伝えられた)?\s*(?:こと|内容)\s*(?:は|を)\s*(?:すべて|全て|全部)\s*(?:忘れ|無視)"
    )),
    Rule(_NEW, "ja.new_instructions", C, 0.85, rx(r"新しい\s*(?:指示|命令|ルール|指令)\s*[:：]")),
    Rule(_MODE, "ja.mode", C, 0.86, rx(
        r"(?:あなた|君|お前)\s*は\s*(?:今|いま|これから)?\s*(?:から)?\s*(?:開発者|管理者|デバッグ|制限なし|無制限|脱獄|ジェイルブレイク)\s*モード"
        r"|(?:開発者|管理者|制限なし|無制限|脱獄|ジェイルブレイク)\s*モード\s*(?:を|に)\s*(?:有効|オン|起動|切り替え|入)[^。\n]{0,30}(?:答え|回答|あなた)"
    )),
    Rule(_EXTRACT, "ja.reveal_prompt", H, 0.85, rx(
        r"(?:システム\s*プロンプト|初期\s*指示|最初\s*の\s*指示|隠された\s*指示|元\s*の\s*指示|秘密\s*の\s*指示)\s*(?:を|の内容を)\s*(?:そのまま|すべて|全て|全文)?\s*"
        r"(?:表示|出力|教え|見せ|開示|繰り返|書き出|印刷|公開)"
    )),
    Rule(_FREE, "ja.no_restrictions", H, 0.8, rx(
        r"(?:制限|制約|ルール|倫理|フィルター|検閲)\s*(?:の)?\s*(?:ない|なし|を無視した|に縛られない|から解放された)[^。\n]{0,30}(?:AI|アシスタント|として|答え|回答|あなた)"
    )),
)  # fmt: skip


#: Necessary substrings per rule (see ``Rule.needs``), in normalised lowercase text.
NEEDS: dict[str, tuple[str, ...]] = {
    "fr.ignore_previous": ("instruction", "consigne", "regle", "directive", "ordre", "indication"),
    "fr.forget_everything": ("tout",),
    "fr.new_instructions": ("nouvelle",),
    "fr.mode": ("mode",),
    "fr.reveal_prompt": ("prompt", "message", "invite", "instruction", "consigne"),
    "fr.no_restrictions": ("sans", "aucun"),
    "de.ignore_previous": (
        "anweisung",
        "instruktion",
        "regel",
        "vorgabe",
        "befehl",
        "richtlinie",
        "prompt",
    ),
    "de.ignore_everything": ("alles",),
    "de.new_instructions": ("neue",),
    "de.mode": ("modus",),
    "de.reveal_prompt": ("prompt", "anweisung"),
    "de.no_restrictions": ("ohne",),
    "es.ignore_previous": (
        "instruccion",
        "indicacion",
        "regla",
        "orden",
        "directri",
        "norma",
        "mensaje",
    ),
    "es.forget_everything": ("todo",),
    "es.new_instructions": ("nuevas",),
    "es.mode": ("modo",),
    "es.reveal_prompt": ("prompt", "mensaje", "instruccion"),
    "es.no_restrictions": ("sin",),
    "pt.ignore_previous": (
        "instruc",
        "orientac",
        "regra",
        "ordem",
        "ordens",
        "diretriz",
        "mensage",
    ),
    "pt.forget_everything": ("tudo",),
    "pt.new_instructions": ("novas",),
    "pt.mode": ("modo",),
    "pt.reveal_prompt": ("prompt", "mensagem", "instruc"),
    "pt.no_restrictions": ("sem",),
    "it.ignore_previous": ("istruzion", "regol", "indicazion", "direttiv", "ordin", "messagg"),
    "it.forget_everything": ("tutto",),
    "it.new_instructions": ("nuove",),
    "it.mode": ("modalita",),
    "it.reveal_prompt": ("prompt", "messaggio", "istruzion"),
    "it.no_restrictions": ("senza",),
    "zh.ignore_previous": (
        "忽略",
        "忽视",
        "無視",
        "无视",
        "忘记",
        "忘記",
        "忘掉",
        "理会",
        "理會",
        "别管",
        "別管",
        "跳过",
        "跳過",
        "放弃",
        "放棄",
        "抛开",
        "拋開",
    ),
    "zh.new_instructions": ("新",),
    "zh.mode": ("模式",),
    "zh.reveal_prompt": ("提示", "指令"),
    "zh.no_restrictions": (
        "限制",
        "约束",
        "約束",
        "规则",
        "規則",
        "审查",
        "審查",
        "道德",
        "过滤",
        "過濾",
    ),
    "ja.ignore_previous": ("無視", "忘れ", "破棄", "取り消", "撤回"),
    "ja.forget_everything": ("忘れ", "無視"),
    "ja.new_instructions": ("新しい",),
    "ja.mode": ("モード",),
    "ja.reveal_prompt": ("プロンプト", "指示"),
    "ja.no_restrictions": ("制限", "制約", "ルール", "倫理", "フィルター", "検閲"),
}
PHRASES = with_needs(PHRASES, NEEDS)
