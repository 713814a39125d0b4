/// Country and subdivision names, aliases and codes to ISO 3166 codes.
public enum Countries {
    /// ISO 3166-1 alpha-2, alpha-3, then names and aliases in English, German, French, Spanish, Italian, Dutch,
    /// Portuguese and the country's own language(s), separated by `;`.
    ///
    /// Source: codes and English short names from ISO 3166-1 (the ISO Online Browsing Platform, iso.org/obp, as of
    /// 2024); names in other languages from the Unicode CLDR territory display names (cldr/common/main/*.xml,
    /// release 44); common informal aliases (USA, UK, Holland, …) added by hand.
    public static let table = """
    US|USA|United States;United States of America;USA;U.S.A.;U.S.;US of A;America;Vereinigte Staaten;Vereinigte Staaten von Amerika;États-Unis;Etats-Unis;Estados Unidos;Stati Uniti;Verenigde Staten;EE.UU.;EEUU
    CA|CAN|Canada;Kanada;Canadá
    MX|MEX|Mexico;Mexiko;Mexique;México;Messico
    GB|GBR|United Kingdom;UK;U.K.;Great Britain;Britain;England;Scotland;Wales;Northern Ireland;Vereinigtes Königreich;Großbritannien;Grossbritannien;Royaume-Uni;Reino Unido;Regno Unito;Verenigd Koninkrijk;Engeland
    IE|IRL|Ireland;Irland;Irlande;Irlanda;Éire;Ierland
    DE|DEU|Germany;Deutschland;Allemagne;Alemania;Germania;Duitsland;Alemanha;BRD;Federal Republic of Germany;Bundesrepublik Deutschland
    FR|FRA|France;Frankreich;Francia;Frankrijk;França
    IT|ITA|Italy;Italien;Italie;Italia;Italië;Itália
    ES|ESP|Spain;Spanien;Espagne;España;Spagna;Spanje;Espanha
    PT|PRT|Portugal;Portogallo
    NL|NLD|Netherlands;The Netherlands;Holland;Niederlande;Pays-Bas;Países Bajos;Paesi Bassi;Nederland;Países Baixos
    BE|BEL|Belgium;Belgien;Belgique;Bélgica;Belgio;België
    LU|LUX|Luxembourg;Luxemburg;Luxemburgo;Lussemburgo
    CH|CHE|Switzerland;Schweiz;Suisse;Suiza;Svizzera;Zwitserland;Suíça;Confoederatio Helvetica
    AT|AUT|Austria;Österreich;Oesterreich;Autriche;Oostenrijk;Áustria
    LI|LIE|Liechtenstein
    DK|DNK|Denmark;Dänemark;Danemark;Dinamarca;Danimarca;Danmark;Denemarken
    NO|NOR|Norway;Norwegen;Norvège;Noruega;Norvegia;Norge;Noorwegen
    SE|SWE|Sweden;Schweden;Suède;Suecia;Svezia;Sverige;Zweden;Suécia
    FI|FIN|Finland;Finnland;Finlande;Finlandia;Suomi;Finlândia
    IS|ISL|Iceland;Island;Islande;Islandia;Islanda;Ísland;IJsland
    EE|EST|Estonia;Estland;Estonie;Eesti
    LV|LVA|Latvia;Lettland;Lettonie;Letonia;Lettonia;Latvija
    LT|LTU|Lithuania;Litauen;Lituanie;Lituania;Lietuva
    PL|POL|Poland;Polen;Pologne;Polonia;Polska;Polónia
    CZ|CZE|Czechia;Czech Republic;Tschechien;Tschechische Republik;Tchéquie;République tchèque;Chequia;República Checa;Cechia;Repubblica Ceca;Česko;Česká republika;Tsjechië
    SK|SVK|Slovakia;Slowakei;Slovaquie;Eslovaquia;Slovacchia;Slovensko
    HU|HUN|Hungary;Ungarn;Hongrie;Hungría;Ungheria;Magyarország;Hongarije
    RO|ROU|Romania;Rumänien;Roumanie;Rumania;România;Roemenië
    BG|BGR|Bulgaria;Bulgarien;Bulgarie;България
    GR|GRC|Greece;Griechenland;Grèce;Grecia;Ελλάδα;Ellada;Griekenland
    CY|CYP|Cyprus;Zypern;Chypre;Chipre;Cipro
    MT|MLT|Malta;Malte
    SI|SVN|Slovenia;Slowenien;Slovénie;Eslovenia;Slovenija
    HR|HRV|Croatia;Kroatien;Croatie;Croacia;Croazia;Hrvatska
    RS|SRB|Serbia;Serbien;Serbie;Srbija
    BA|BIH|Bosnia and Herzegovina;Bosnia;Bosnien und Herzegowina;Bosnie-Herzégovine
    UA|UKR|Ukraine;Ucrania;Ucraina;Україна;Oekraïne
    BY|BLR|Belarus;Weißrussland;Biélorussie;Bielorrusia
    RU|RUS|Russia;Russian Federation;Russland;Russie;Rusia;Russia;Россия;Rusland
    TR|TUR|Türkiye;Turkey;Türkei;Turquie;Turquía;Turchia;Turkije
    IL|ISR|Israel;Israël;Israele
    AE|ARE|United Arab Emirates;UAE;U.A.E.;Vereinigte Arabische Emirate;Émirats arabes unis;Emiratos Árabes Unidos;Emirati Arabi Uniti
    SA|SAU|Saudi Arabia;Saudi-Arabien;Arabie saoudite;Arabia Saudita;Arabia Saudí;KSA
    QA|QAT|Qatar;Katar
    KW|KWT|Kuwait;Koweït
    EG|EGY|Egypt;Ägypten;Égypte;Egipto;Egitto
    MA|MAR|Morocco;Marokko;Maroc;Marruecos;Marocco
    ZA|ZAF|South Africa;Südafrika;Afrique du Sud;Sudáfrica;Sudafrica;Zuid-Afrika;RSA
    NG|NGA|Nigeria;Nigéria
    KE|KEN|Kenya;Kenia
    IN|IND|India;Indien;Inde;Índia;भारत;Bharat
    PK|PAK|Pakistan;Paquistán
    BD|BGD|Bangladesh;Bangladesch
    LK|LKA|Sri Lanka
    CN|CHN|China;People's Republic of China;PRC;Chine;Cina;中国;中國
    HK|HKG|Hong Kong;Hongkong;香港
    TW|TWN|Taiwan;Taïwan;Taiwán;台灣;台湾
    JP|JPN|Japan;Japon;Japón;Giappone;日本
    KR|KOR|South Korea;Korea;Republic of Korea;Südkorea;Corée du Sud;Corea del Sur;Corea del Sud;대한민국;한국
    SG|SGP|Singapore;Singapur;Singapour;Singapura
    MY|MYS|Malaysia;Malaisie;Malasia
    TH|THA|Thailand;Thaïlande;Tailandia;Thailandia;ประเทศไทย
    VN|VNM|Vietnam;Viet Nam;Viêt Nam;Việt Nam
    PH|PHL|Philippines;Philippinen;Filipinas;Filippine
    ID|IDN|Indonesia;Indonesien;Indonésie
    AU|AUS|Australia;Australien;Australie
    NZ|NZL|New Zealand;Neuseeland;Nouvelle-Zélande;Nueva Zelanda;Nuova Zelanda;Aotearoa
    BR|BRA|Brazil;Brasilien;Brésil;Brasil;Brasile
    AR|ARG|Argentina;Argentinien;Argentine
    CL|CHL|Chile;Chili;Cile
    CO|COL|Colombia;Kolumbien;Colombie
    PE|PER|Peru;Pérou;Perú
    VE|VEN|Venezuela
    UY|URY|Uruguay
    EC|ECU|Ecuador;Équateur
    CR|CRI|Costa Rica
    PA|PAN|Panama;Panamá
    PR|PRI|Puerto Rico;Porto Rico
    DO|DOM|Dominican Republic;Dominikanische Republik;República Dominicana
    KZ|KAZ|Kazakhstan;Kasachstan;Kazajistán
    IR|IRN|Iran;Islamic Republic of Iran
    IQ|IRQ|Iraq;Irak
    JO|JOR|Jordan;Jordanien;Jordanie;Jordania
    LB|LBN|Lebanon;Libanon;Liban;Líbano
    GH|GHA|Ghana
    TN|TUN|Tunisia;Tunesien;Tunisie;Túnez
    DZ|DZA|Algeria;Algerien;Algérie;Argelia
    ET|ETH|Ethiopia;Äthiopien;Éthiopie;Etiopía
    """

    /// ISO 3166-2 subdivisions of the United States, Canada and Australia: code, then names and postal abbreviations.
    /// Source: ISO 3166-2:US, ISO 3166-2:CA, ISO 3166-2:AU (iso.org/obp); French names of Canadian provinces from
    /// the Government of Canada's official names.
    public static let subdivisionTable = """
    US-AL|Alabama;Ala.
    US-AK|Alaska
    US-AZ|Arizona;Ariz.
    US-AR|Arkansas;Ark.
    US-CA|California;Calif.;Cal.
    US-CO|Colorado;Colo.
    US-CT|Connecticut;Conn.
    US-DE|Delaware;Del.
    US-DC|District of Columbia;Washington DC;Washington D.C.;D.C.
    US-FL|Florida;Fla.
    US-GA|Georgia;Ga.
    US-HI|Hawaii
    US-ID|Idaho
    US-IL|Illinois;Ill.
    US-IN|Indiana;Ind.
    US-IA|Iowa
    US-KS|Kansas;Kan.
    US-KY|Kentucky;Ky.
    US-LA|Louisiana
    US-ME|Maine
    US-MD|Maryland;Md.
    US-MA|Massachusetts;Mass.
    US-MI|Michigan;Mich.
    US-MN|Minnesota;Minn.
    US-MS|Mississippi;Miss.
    US-MO|Missouri
    US-MT|Montana;Mont.
    US-NE|Nebraska;Neb.
    US-NV|Nevada;Nev.
    US-NH|New Hampshire;N.H.
    US-NJ|New Jersey;N.J.
    US-NM|New Mexico;N.M.
    US-NY|New York;N.Y.;NY State
    US-NC|North Carolina;N.C.
    US-ND|North Dakota;N.D.
    US-OH|Ohio
    US-OK|Oklahoma;Okla.
    US-OR|Oregon;Ore.
    US-PA|Pennsylvania;Penn.;Penna.
    US-RI|Rhode Island;R.I.
    US-SC|South Carolina;S.C.
    US-SD|South Dakota;S.D.
    US-TN|Tennessee;Tenn.
    US-TX|Texas;Tex.
    US-UT|Utah
    US-VT|Vermont;Vt.
    US-VA|Virginia;Va.
    US-WA|Washington;Wash.
    US-WV|West Virginia;W.Va.
    US-WI|Wisconsin;Wis.
    US-WY|Wyoming;Wyo.
    US-PR|Puerto Rico
    CA-AB|Alberta;Alta.
    CA-BC|British Columbia;Colombie-Britannique;B.C.
    CA-MB|Manitoba;Man.
    CA-NB|New Brunswick;Nouveau-Brunswick;N.B.
    CA-NL|Newfoundland and Labrador;Terre-Neuve-et-Labrador;Newfoundland;NF;NFLD
    CA-NS|Nova Scotia;Nouvelle-Écosse;N.S.
    CA-NT|Northwest Territories;Territoires du Nord-Ouest;N.W.T.
    CA-NU|Nunavut
    CA-ON|Ontario;Ont.
    CA-PE|Prince Edward Island;Île-du-Prince-Édouard;P.E.I.
    CA-QC|Quebec;Québec;Que.;PQ
    CA-SK|Saskatchewan;Sask.
    CA-YT|Yukon;Yukon Territory;YK
    AU-ACT|Australian Capital Territory;Canberra
    AU-NSW|New South Wales
    AU-NT|Northern Territory
    AU-QLD|Queensland;Qld.
    AU-SA|South Australia
    AU-TAS|Tasmania;Tas.
    AU-VIC|Victoria;Vic.
    AU-WA|Western Australia
    """

    /// Lower case without accents, punctuation turned into spaces, white space collapsed: the form names are looked up by.
    public static func lookupKey(_ s: String) -> String {
        var out = ""
        var space = false
        for ch in Folding.fold(s).unicodeScalars {
            if ch.properties.isAlphabetic || ch.properties.numericType != nil {
                if space, !out.isEmpty { out.append(" ") }
                space = false
                out.unicodeScalars.append(ch)
            } else if ch == "." || ch == "'" || ch == "’" {
                continue  // U.S.A. → usa, Côte d'Ivoire → cote divoire
            } else {
                space = true
            }
        }
        return out
    }

    static let names: [String: String] = {
        var m: [String: String] = [:]
        for line in table.split(separator: "\n") {
            let parts = line.split(separator: "|").map(String.init)
            let code = parts[0].trimmingSpaces()
            m[lookupKey(code)] = code
            m[lookupKey(parts[1])] = code
            for name in parts[2].split(separator: ";") where m[lookupKey(String(name))] == nil { m[lookupKey(String(name))] = code }
        }
        return m
    }()

    static let subdivisions: [String: [String: String]] = {
        var m: [String: [String: String]] = [:]
        for line in subdivisionTable.split(separator: "\n") {
            let parts = line.split(separator: "|").map(String.init)
            let code = parts[0].trimmingSpaces()
            let country = String(code.prefix(2)), local = String(code.dropFirst(3))
            m[country, default: [:]][lookupKey(local)] = code
            m[country, default: [:]][lookupKey(code)] = code
            for name in parts[1].split(separator: ";") { m[country, default: [:]][lookupKey(String(name))] = code }
        }
        return m
    }()

    /// The ISO 3166-1 alpha-2 code of a country written as a name, alias or code; nil when unknown.
    public static func code(_ text: String) -> String? { names[lookupKey(text)] }

    /// The ISO 3166-2 code (`US-CA`) of a state, province or territory, given its country (alpha-2) when known;
    /// without a country, the name is looked up in the US, Canada and Australia in that order (postal abbreviations
    /// such as `WA` are then read as US states).
    public static func subdivision(_ text: String, country: String?) -> String? {
        let key = lookupKey(text)
        if let country { return subdivisions[country.uppercased()]?[key] }
        for c in ["US", "CA", "AU"] { if let code = subdivisions[c]?[key] { return code } }
        return nil
    }
}

/// Accent and case folding for the Latin letters CRM data holds, without Foundation.
public enum Folding {
    static let map: [Character: String] = {
        var m: [Character: String] = [:]
        let groups: [(String, String)] = [
            ("àáâãäåāăą", "a"), ("çćĉċč", "c"), ("ďđ", "d"), ("èéêëēĕėęě", "e"), ("ĝğġģ", "g"), ("ĥħ", "h"),
            ("ìíîïĩīĭįı", "i"), ("ĵ", "j"), ("ķ", "k"), ("ĺļľŀł", "l"), ("ñńņňŉ", "n"), ("òóôõöøōŏő", "o"),
            ("ŕŗř", "r"), ("śŝşšș", "s"), ("ţťŧț", "t"), ("ùúûüũūŭůűų", "u"), ("ŵ", "w"), ("ýÿŷ", "y"), ("źżž", "z"),
        ]
        for (letters, base) in groups { for ch in letters { m[ch] = base } }
        m["ß"] = "ss"; m["æ"] = "ae"; m["œ"] = "oe"; m["þ"] = "th"; m["ð"] = "d"
        return m
    }()

    /// Lower case, accents removed from Latin letters (`Müller` → `muller`, `Straße` → `strasse`).
    public static func fold(_ s: String) -> String {
        let lower = s.lowercased()
        if lower.utf8.allSatisfy({ $0 < 0x80 }) { return lower }
        var out = ""
        out.reserveCapacity(lower.utf8.count)
        for ch in lower {
            if let m = map[ch] { out += m } else if ch.unicodeScalars.count > 1, let base = ch.unicodeScalars.first, base.isASCII {
                out.unicodeScalars.append(base)  // a letter with a combining accent (decomposed input)
            } else { out.append(ch) }
        }
        return out
    }
}
